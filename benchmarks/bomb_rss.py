"""Peak memory of decoding a small "decoded-size bomb" (issue 13, finding 1).

The bomb is a 338 KB FLAC of 59 s, 8 channels at 655,350 Hz holding a constant:
it compresses to almost nothing and decodes to 1.2 GB of float32. Measures:

* ``library``: peak RSS of a fresh process running ``serkit.audio.load(bomb, max_duration=60)``;
* ``service``: ``serkit serve`` (shipped model) peak RSS (VmHWM) after three concurrent
  ``POST /v1/predict`` uploads of the bomb, and after one ``POST /v1/timeline``,
  next to its RSS when idle.

Usage::

    python benchmarks/bomb_rss.py [--json out.json]

Run it against another checkout with ``PYTHONPATH=/path/to/src``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf
from _procmem import hwm_mb, rss_mb


def make_bomb(path: Path, rate: int = 655350, channels: int = 8) -> Path:
    """Write the 59 s constant FLAC at ``rate`` Hz (655,350 Hz, 8 channels in the issue)."""
    with sf.SoundFile(path, "w", rate, channels, "PCM_16", format="FLAC") as handle:
        block = np.full((rate, channels), 0.25, "f4")
        for _ in range(59):
            handle.write(block)
    return path


def library_peak(bomb: Path) -> dict:
    """Peak RSS of a fresh process loading the bomb."""
    # VmHWM of the child itself (ru_maxrss would keep the forking parent's size across exec)
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import serkit.audio as a\n"
        "from _procmem import hwm_mb\n"
        "try:\n"
        f"    a.load({str(bomb)!r}, max_duration=60); r = 'loaded'\n"
        "except Exception as e:\n"
        "    r = type(e).__name__ + ': ' + str(e)\n"
        "print(hwm_mb(), r)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mb, result = out.stdout.strip().split(" ", 1)
    return {"peak_rss_mb": round(float(mb), 1), "result": result}


def post(url: str, data: bytes, results: list) -> None:
    """POST raw bytes; record the status code."""
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "audio/flac"}
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            results.append(resp.status)
    except urllib.error.HTTPError as exc:
        results.append(exc.code)
    except OSError as exc:
        results.append(str(exc))


def service_peak(bomb: Path) -> dict:
    """Idle RSS and peak RSS of ``serkit serve`` after the bomb uploads."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "serkit", "serve", "--port", str(port), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        idle = rss_mb(proc.pid)
        data = bomb.read_bytes()
        codes: list = []
        threads = [
            threading.Thread(target=post, args=(base + "/v1/predict", data, codes))
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after_predict = hwm_mb(proc.pid)
        post(base + "/v1/timeline", data, codes)
        after_timeline = hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "idle_rss_mb": round(idle, 1),
        "peak_after_3_predict_mb": round(after_predict, 1),
        "peak_after_timeline_mb": round(after_timeline, 1),
        "status_codes": codes,
    }


def main() -> None:
    """Build the bomb, measure library and service, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report: dict = {}
        # 655,350 Hz: the bomb; 384,000 Hz: the highest rate serkit accepts,
        # so the same bomb passes the header checks and is decoded block by block;
        # 16 kHz mono: the same 59 s signal as a plain file, what any 59 s upload costs
        for rate, channels in ((655350, 8), (384000, 8), (16000, 1)):
            bomb = make_bomb(Path(tmp) / f"bomb-{rate}.flac", rate, channels)
            report[f"flac_{rate}_hz_{channels}ch"] = {
                "bytes": bomb.stat().st_size,
                "library": library_peak(bomb),
                "service": service_peak(bomb),
            }
        report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        report["load"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
