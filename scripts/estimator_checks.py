"""Count scikit-learn ``check_estimator`` failures for serkit's estimators.

Usage::

    python scripts/estimator_checks.py
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import check_estimator

from serkit.models import AugmentedTraining, ProbabilityEnsemble, make_model
from serkit.recognizer import EmotionRecognizer


def estimators() -> dict[str, object]:
    """The three serkit estimators, with small models so the checks run fast."""
    return {
        "EmotionRecognizer": EmotionRecognizer("seed", "logreg"),
        "ProbabilityEnsemble": ProbabilityEnsemble(
            [("a", make_model("logreg")), ("b", make_model("dt"))]
        ),
        "AugmentedTraining": AugmentedTraining(make_model("logreg")),
    }


def main() -> None:
    for name, estimator in estimators().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = list(check_estimator(estimator, on_fail=None))
        failed = [r for r in results if r["status"] == "failed"]
        print(f"{name}: {len(failed)} of {len(results)} checks fail")
        for r in failed:
            first = (str(r["exception"]).splitlines() or [""])[0]
            print(f"    {r['check_name']}: {first[:110]}")


if __name__ == "__main__":
    main()
