// Test-only stand-in for kittens.cuh: the AMD path alone, so these kernels compile whether or not
// the top-level dispatcher header exists yet.
#pragma once
#include "kittens/amd/all.cuh"
