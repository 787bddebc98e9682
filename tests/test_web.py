"""The web page in a real browser: Chromium (Playwright) against a uvicorn server in a thread.

Needs ``playwright`` (Python) and a Chromium at ``/usr/bin/chromium`` (or
``$SERKIT_CHROMIUM``); Playwright's own browser download is not used. Skipped,
saying why, where either is missing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi", reason="the service needs the serve extra (fastapi)")
pytest.importorskip("uvicorn", reason="the web tests run a uvicorn server")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

CHROMIUM = Path(os.environ.get("SERKIT_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SERKIT_CHROMIUM)",
        allow_module_level=True,
    )

from serkit import audio  # noqa: E402
from serkit.features import extract_files  # noqa: E402
from serkit.recognizer import EmotionRecognizer  # noqa: E402
from serkit.service import ServiceSettings, create_app  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ANGRY = EXAMPLES / "03-01-05-02-01-01-23.flac"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port, in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    host, port = sock.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def model_dir(example_model_dir: Path) -> Path:
    """The shared tiny model of conftest (seed features of the example clips, logreg)."""
    return example_model_dir


@pytest.fixture(scope="module")
def base_url(model_dir: Path) -> Iterator[str]:
    with serve_in_thread(create_app(model_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def fake_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-bit WAV that Chromium's fake microphone plays (an example clip, looped)."""
    y, sr = audio.load(ANGRY)
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    sf.write(path, np.concatenate([y, y]), sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(fake_mic: Path):
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                *BROWSER_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={fake_mic}",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def open_page(browser, url: str, viewport: dict[str, int] = DESKTOP):
    """A fresh page; fails the test on any uncaught script error."""
    context = browser.new_context(viewport=viewport)
    context.grant_permissions(["microphone"], origin=url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(30000)
    try:
        page.goto(url + "/")
        yield page
        assert not errors, errors
    finally:
        context.close()


def shown_emotion(page) -> str:
    """The top emotion the page shows (textContent: CSS capitalises it on screen)."""
    return page.locator("#top-emotion").text_content().strip()


def test_upload_shows_bars_with_the_predicted_emotion(browser, base_url, model_dir, tmp_path):
    expected = EmotionRecognizer.load(model_dir).predict_file(ANGRY)
    with open_page(browser, base_url) as page:
        sync_api.expect(page.locator("#model-line")).to_contain_text("8 emotions")
        page.set_input_files("#file-input", str(ANGRY))
        page.wait_for_selector("#result:not([hidden])")
        assert shown_emotion(page) == expected.emotion == "angry"
        rows = page.locator("#bars li")
        assert rows.count() == 8
        top = page.locator("#bars li.is-top")
        assert top.count() == 1 and top.get_attribute("data-emotion") == "angry"
        assert top.locator(".bar-value").text_content() == f"{round(100 * expected.confidence)} %"
        assert ANGRY.name in page.locator("#result-meta").text_content()
        page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)


def test_microphone_recording_is_sent_as_wav(browser, base_url):
    with open_page(browser, base_url) as page:
        page.click("#record-button")
        page.wait_for_selector("#record-button.recording")
        page.wait_for_timeout(2500)
        page.click("#record-button")
        page.wait_for_selector("#result:not([hidden]), #error:not([hidden])")
        assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
        assert shown_emotion(page) in EMOTIONS.values()
        assert page.locator("#bars li").count() == 8
        meta = page.locator("#result-meta").text_content()
        assert "recording.wav" in meta
        seconds = float(meta.split(" s ·")[0].split("·")[-1])
        assert 1.5 < seconds < 5


RECORD_WEBM = """async (seconds) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const type = "audio/webm;codecs=opus";
  const recorder = new MediaRecorder(stream, { mimeType: type });
  const chunks = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(250);  // timeslices: a live WebM with no duration in its header
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  recorder.stop();
  await stopped;
  stream.getTracks().forEach((track) => track.stop());
  const blob = new Blob(chunks, { type });
  const form = new FormData();
  form.append("file", blob, "recording.webm");
  const response = await fetch("/v1/predict", { method: "POST", body: form });
  const head = Array.from(new Uint8Array(await blob.arrayBuffer()).slice(0, 4));
  return { status: response.status, body: await response.json(), head };
}"""


def test_a_mediarecorder_webm_is_read_by_the_server(browser, base_url):
    """Chromium's own MediaRecorder output (WebM/Opus, no duration) predicts like a file."""
    with open_page(browser, base_url) as page:
        result = page.evaluate(RECORD_WEBM, 3)
    assert result["head"] == [0x1A, 0x45, 0xDF, 0xA3]  # EBML: really a WebM
    assert result["status"] == 200, result["body"]
    assert result["body"]["emotion"] in EMOTIONS.values()
    assert 2.0 < result["body"]["duration"] < 4.5
    assert result["body"]["filename"] == "recording.webm"


def test_phone_layout_has_no_horizontal_overflow(browser, base_url, tmp_path):
    with open_page(browser, base_url, PHONE) as page:
        page.set_input_files("#file-input", str(ANGRY))
        page.wait_for_selector("#result:not([hidden])")
        page.wait_for_timeout(500)  # bar animation
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
        )
        assert max(widths[:2]) <= widths[2] == PHONE["width"], widths
        shot = tmp_path / "phone.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000


def test_errors_from_the_api_are_shown(browser, base_url, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not audio\n" * 50)
    with open_page(browser, base_url) as page:
        page.set_input_files("#file-input", str(junk))
        page.wait_for_selector("#error:not([hidden])")
        assert "audio_decode_error" in page.locator("#error-title").text_content()
        message = page.locator("#error-message").text_content()
        assert message.startswith("notes.txt: not a readable audio file")
        assert page.locator("#result").is_hidden()


def test_page_asks_for_the_api_key(browser, model_dir):
    app = create_app(model_dir, settings=ServiceSettings(api_key="open-sesame"))
    with serve_in_thread(app) as url, open_page(browser, url) as page:
        page.wait_for_selector("#auth-card:not([hidden])")
        page.fill("#api-key-input", "wrong")
        page.click("#auth-form button")
        page.wait_for_selector("#auth-card:not([hidden])")
        sync_api.expect(page.locator("#auth-message")).to_contain_text("not accepted")
        page.fill("#api-key-input", "open-sesame")
        page.click("#auth-form button")
        sync_api.expect(page.locator("#model-line")).to_contain_text("Model logreg-")
        page.set_input_files("#file-input", str(ANGRY))
        page.wait_for_selector("#result:not([hidden])")
        assert shown_emotion(page) == "angry"


def test_long_recording_draws_a_timeline(browser, base_url, tmp_path):
    pytest.importorskip("serkit.timeline", reason="serkit.timeline is not in this checkout yet")
    clips = [audio.load(p)[0] for p in sorted(EXAMPLES.glob("*.flac"))[:4]]
    pause = np.zeros(8000, np.float32)
    path = tmp_path / "talk.wav"
    sf.write(path, np.concatenate([np.concatenate([c, pause]) for c in clips]), 16000)
    with open_page(browser, base_url, PHONE) as page:
        page.set_input_files("#file-input", str(path))  # > 8 s: timeline automatically
        page.wait_for_selector("#timeline:not([hidden])")
        assert page.locator("#timeline-chart svg rect.window").count() > 0
        assert page.locator("#legend li").count() >= 2
        widths = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert widths[0] <= widths[1]


@contextmanager
def recorded_page(browser, url: str):
    """A fresh page on ``url`` that records every request URL and every script error."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(30000)
    try:
        page.goto(url)
        yield page, requests, errors
    finally:
        context.close()


def off_host(requests: list[str], base_url: str) -> list[str]:
    """The requested URLs that went anywhere but the test server (data: and blob: are local)."""
    local = ("data:", "blob:", base_url + "/")
    return [url for url in requests if not url.startswith(local)]


def test_swagger_docs_render_the_operations_offline(browser, base_url, tmp_path):
    with recorded_page(browser, base_url + "/docs") as (page, requests, errors):
        for path in ("/v1/predict", "/v1/timeline", "/v1/models"):
            page.wait_for_selector(f'.opblock-summary-path[data-path="{path}"]')
        assert "Unable to render" not in page.content()
        page.wait_for_load_state("networkidle")
        shot = tmp_path / "docs.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
    assert not errors, errors
    assert base_url + "/openapi.json" in requests
    assert not off_host(requests, base_url), off_host(requests, base_url)


def test_uncertain_badge_and_four_emotions_toggle(browser, tmp_path):
    """A model with an uncertain threshold: the page marks a low-confidence answer, and the
    four-emotions toggle asks the server for angry/happy/neutral/sad only."""
    paths = sorted(EXAMPLES.glob("*.flac"))
    X = extract_files(paths, "seed", jobs=1).matrix()
    y = [EMOTIONS[p.name.split("-")[2]] for p in paths]
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    # a high temperature flattens every answer under the threshold
    rec.calibration_ = {"method": "temperature", "temperature": 50.0, "uncertain_below": 0.9}
    rec.save(tmp_path / "model")
    with serve_in_thread(create_app(tmp_path / "model")) as url, open_page(browser, url) as page:
        sync_api.expect(page.locator("#four-row")).to_be_visible()
        page.set_input_files("#file-input", str(ANGRY))
        page.wait_for_selector("#result:not([hidden])")
        sync_api.expect(page.locator("#top-uncertain")).to_be_visible()
        assert page.locator("#bars li").count() == 8
        page.check("#four-toggle")
        page.locator("#result").evaluate("node => node.hidden = true")
        page.set_input_files("#file-input", str(paths[0]))
        page.wait_for_selector("#result:not([hidden])")
        sync_api.expect(page.locator("#bars li")).to_have_count(4)
        names = {page.locator("#bars li").nth(i).get_attribute("data-emotion") for i in range(4)}
        assert names == {"angry", "happy", "neutral", "sad"}
        page.screenshot(path=str(tmp_path / "uncertain.png"), full_page=True)
