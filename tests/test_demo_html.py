"""`fastdrop demo --html`: the page opens in headless Chromium, draws what its data says, and logs no error.

Needs Chromium (Debian's `chromium` package; CI installs it) and the demo
extra; skips without them.
"""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from fastdrop import demo

CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path),
                None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (Debian package chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    for module in ("sklearn", "matplotlib", "tqdm", "threadpoolctl"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("html")
    assert demo.main(["mlp", "--quick", "--html", "--out", str(out)]) == 0
    return out / "mlp" / "demo.html"


def chromium(*args, timeout=180):
    """Run headless Chromium; its stdout, and stderr with the page's console messages."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=timeout)
    return done.stdout, done.stderr


def page_data(path):
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script id="demo-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_page_needs_nothing_from_the_network(page):
    text = page.read_text(encoding="utf-8")
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text)) - {"http://www.w3.org/2000/svg"}
    assert urls == set()
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", text)


def test_page_draws_the_recorded_masks_and_logs_no_error(page):
    data = page_data(page)
    step = 5
    dom, log = chromium("--dump-dom", page.as_uri() + f"#step={step}")

    assert "fastdrop demo page rendered" in log        # the console is captured ...
    assert "Uncaught" not in log                       # ... and has no script error
    assert not re.search(r"CONSOLE.*(TypeError|ReferenceError|SyntaxError|RangeError)", log)
    body = dict(re.findall(r'data-([a-z]+)="([^"]*)"', re.search(r"<body[^>]*>", dom).group(0)))
    assert body["status"] == "rendered"
    assert body["step"] == str(step)
    assert int(body["rows"]) == len(data["arms"]) == 4
    assert int(body["curves"]) == 3 * len(data["arms"])    # validation and train loss, validation accuracy

    arm = body["arm"]
    assert arm in data["masks"] and arm in data["arms"]
    kept = 0
    for layer in data["layers"]:
        if layer["mask"]:
            bits = data["masks"][arm][layer["mask"]]["steps"][step][:layer["units"]]
            kept += bits.count("1")
            assert 0 < bits.count("1") < len(bits)        # p = 0.5: some kept, some dropped
        elif layer["name"] != "input":
            kept += layer["units"]
    assert int(body["kept"]) == kept
    pixels = int(np.prod(data["sample_shape"]))
    assert int(body["units"]) == pixels + sum(layer["units"] for layer in data["layers"][1:])
    assert dom.count("<tr>") == 5 and dom.count('class="curve"') == int(body["curves"])


def test_screenshot_shows_a_drawn_page(page, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    shot = tmp_path / "page.png"
    _, log = chromium(f"--screenshot={shot}", "--window-size=1400,1300", page.as_uri())
    assert shot.exists(), log[-2000:]
    pixels = image.imread(str(shot))
    assert pixels.shape[:2] == (1300, 1400)
    # a blank or unstyled page has a handful of colours; the drawn one has the
    # neurons' blue, the curves' colours and the digit's grey levels
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200
    dark_blue = np.all(np.abs(pixels[..., :3] - np.array([0x1f, 0x4e, 0x79]) / 255) < 0.02, axis=-1)
    assert dark_blue.sum() > 500                         # the kept neurons
