"""`tilegen show` and `tilegen trace` (issue 13, item 5): the picture of one block (waves x barrier
phases, shared buffers, asynchronous loads in flight, validator findings where they happen) and
one wave's op sequence. The browser tests load the HTML in real headless Chromium (Debian's
`chromium`; scripts/setup.sh installs it) and skip with the reason where it is absent."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import tilegen as tg
from ir import models as m
from tilegen import cli
from tilegen.examples import example_path
from tilegen.schedule import load_schedule
from tilegen.show import build_picture, render_html, trace_lines
from tilegen.testing import example_names, load_example

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (scripts/setup.sh installs Debian's chromium when root)"
)


def _kernel(name: str, target: str = "gfx942") -> m.Kernel:
    return load_schedule(example_path(name), [], target)


# -- the picture, as data ------------------------------------------------------------------------


def test_producer_consumer_cells_buffers_and_findings() -> None:
    picture = build_picture(_kernel("k02_producer_consumer"), k_steps=2)
    assert picture.waves == list(range(8)) and picture.phases == 4
    assert picture.roles[0] == "producer" and picture.roles[7] == "consumer"
    first_loads = [e.label for e in picture.cells[(0, 0)]]
    assert first_loads == ["load A -> As[0]", "load B -> Bs[0]"]
    consumer = [e.label for e in picture.cells[(4, 1)]]
    assert "a_reg[0] <- As[0]" in consumer and "mma C_accum[3]" in consumer
    assert (4, 0) in picture.cells and all(e.loc.startswith("examples/k02") for e in picture.cells[(4, 0)])
    # buffer As[1] is written by the producers in phase 1 and read by the consumers in phase 2
    assert picture.buffers["As[1]"] == {1: "W", 2: "R"}
    assert picture.barriers[0].endswith(":25") or picture.barriers[0].endswith(":38")
    # the validator's warning about B's layout is marked on the consumers' load of b_reg
    (finding,) = [f for f in picture.findings if "narrow-lds-reads" in f.rule]
    assert finding.cells and {w for w, _ in finding.cells} == {4, 5, 6, 7}
    flagged = [e for w, p in finding.cells for e in picture.cells[(w, p)] if e.findings]
    assert flagged and all(e.label.startswith("b_reg") for e in flagged)


def test_asynchronous_loads_are_in_flight_until_their_wait() -> None:
    picture = build_picture(_kernel("h100_producer_consumer", "sm_90a"), "sm_90a", k_steps=3)
    crossing = [f for f in picture.flights if f.done is not None and f.done > f.issued]
    assert crossing, picture.flights
    flight = crossing[0]
    assert flight.waves == [0, 1, 2, 3] and flight.what.startswith(("A -> As[", "B -> Bs["))
    assert all(f.done is not None for f in picture.flights), "every load of the example is waited for"


def _racy_kernel() -> m.Kernel:
    k = tg.Kernel("racy", warps=4, block=(64, 64), k_step=32)
    As = k.shared("As", 64, 32)
    Bs = k.shared("Bs", 32, 64)
    acc = k.accumulator("acc", 32, 32)
    a = k.register("a", 32, 32)
    b = k.register("b", 32, 32, layout="col")
    row, col = k.warp_grid(2, 2)
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        k.load(a, As, row=row)
        k.load(b, Bs, col=col)
        k.mma(acc, a, b)  # no barrier after: the next K step's loads overwrite As while others read it
    k.store(acc, row=row, col=col)
    return k.build()


def test_a_validator_error_is_marked_where_it_happens() -> None:
    picture = build_picture(_racy_kernel())
    errors = [f for f in picture.findings if f.severity == "error"]
    assert errors and any(f.cells for f in errors), [f.text for f in picture.findings]
    page = render_html(picture)
    assert 'class="cell flagged error"' in page and "error[" in page


# -- the HTML ------------------------------------------------------------------------------------


def test_the_page_is_self_contained_and_deterministic() -> None:
    picture = build_picture(_kernel("pingpong_8wave"))
    page = render_html(picture)
    assert page == render_html(build_picture(_kernel("pingpong_8wave")))
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<link" not in page and "src=" not in page
    assert page.count('class="cell') == 8 * picture.phases
    assert "examples/pingpong_8wave.py:52" in page  # the Python line of an mma, in the hover text


def test_cli_show_and_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schedule.html"
    assert cli.main(["show", str(example_path("k02_producer_consumer")), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert cli.main(["trace", str(example_path("pingpong_8wave")), "--wave", "5"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("wave 5 of block 0 (role half1)")
    assert "-- barrier 0 (examples/pingpong_8wave.py:38) --" in text
    assert "load(a_reg, subtile_inplace<64, 64>(As, {2, 0}))" in text  # values, not expressions
    assert cli.main(["trace", str(example_path("pingpong_8wave")), "--wave", "8"]) == 2
    assert "has waves 0-7" in capsys.readouterr().err


def test_trace_lines_follow_the_waves_phases() -> None:
    lines = trace_lines(_kernel("k02_producer_consumer"), 0, k_steps=2)
    phases = [line for line in lines if re.fullmatch(r"phase \d+", line)]
    assert phases == ["phase 0", "phase 1", "phase 2", "phase 3"]
    with pytest.raises(ValueError, match="waves 0-7"):
        trace_lines(_kernel("k02_producer_consumer"), 8)


# -- in a real browser ---------------------------------------------------------------------------


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_chromium
@pytest.mark.parametrize("example", example_names())
def test_every_example_renders_in_chromium(example: str, tmp_path: Path) -> None:
    module = load_example(example)
    kernel = module.kernel(**getattr(module, "TARGET_PARAMS", {}).get("amd", {}))
    picture = build_picture(kernel)
    page = tmp_path / f"{example}.html"
    page.write_text(render_html(picture))
    run = _chromium("--dump-dom", f"{page.as_uri()}#selftest")
    dom = run.stdout
    assert 'data-selftest="done"' in dom, run.stderr[-2000:]
    assert f'data-cells="{len(picture.waves) * picture.phases}"' in dom  # the script saw every cell
    details = dom.split('<pre id="details">', 1)[1].split("</pre>", 1)[0]
    assert details.startswith("wave ") and f"examples/{example}.py:" in details  # a click shows the Python line
    assert dom.count('class="lane"') >= len(picture.buffers)


def _png_pixels_vary(path: Path) -> bool:
    """Whether a PNG holds more than one colour (no image library: inflate its IDAT chunks)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)  # filtered scanlines: enough to tell a blank page from a drawing
    not_white = sum(1 for byte in raw[::7] if byte not in (0, 255))
    return len(set(raw)) > 10 and not_white > len(raw) // 7 // 100


@needs_chromium
@pytest.mark.parametrize("example", ["pingpong_8wave", "k02_producer_consumer"])
def test_a_screenshot_of_the_picture(example: str, tmp_path: Path) -> None:
    page = tmp_path / "schedule.html"
    page.write_text(render_html(build_picture(_kernel(example))))
    shot = tmp_path / "shot.png"
    run = _chromium(f"--screenshot={shot}", "--window-size=1600,1100", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 20_000, run.stderr[-2000:]
    assert _png_pixels_vary(shot)
