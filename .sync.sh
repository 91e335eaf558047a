#!/bin/bash
# copy the h11 worktree into /work/main/.wt/h11 for the device tool
set -e
rm -rf /work/main/.wt/h11 && mkdir -p /work/main/.wt/h11
cd /work/wt/h11 && tar --exclude=.git --exclude=__pycache__ --exclude=.sync.sh -cf - . | tar -C /work/main/.wt/h11 -xf -
du -sh /work/main/.wt/h11
