"""The ``optical`` command line. Every user error is one clear message and exit code 2.

So is every OS failure (permission, full disk, a directory where a file is expected, …)
and every undecodable or corrupt input: one line ``PATH: cause``
(:func:`optical.errors.describe_os_error`). Output locations are checked before any
work, and ``--cache-dir`` holds every cache of the command, the model folders included.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .device import DEVICE_CHOICES
from .errors import DECODE_ERRORS, ConfigError, OpticalError, describe_os_error

if TYPE_CHECKING:
    import torch

    from .translate.base import Translator
    from .types import Passage, XorQuestion

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

LOG_FORMAT = "[optical] %(message)s"
logger = logging.getLogger(__name__)


def _cmd_data_show(args: argparse.Namespace) -> int:
    from .data.catalog import describe, format_description

    description = describe(args.name, args.data_dir)
    print(
        json.dumps(description, indent=2, ensure_ascii=False)
        if args.json
        else format_description(description)
    )
    return 0


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return names


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in _name_list(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from exc
    if any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 0: {text!r}")
    return values


Command = Callable[[argparse.Namespace], int]


def _checked(command: Command, **lowest: tuple[float, bool]) -> Command:
    """``command`` run after its numeric options are checked: ``dest=(bound, strict)``
    means the option (when given) must be finite and ``>= bound`` (``> bound`` when
    ``strict``). A value out of range is a :class:`ConfigError` naming the option (one
    line, exit 2), raised before any work is done."""

    def run(args: argparse.Namespace) -> int:
        for dest, (bound, strict) in lowest.items():
            value = getattr(args, dest)
            if value is None:
                continue
            ok = math.isfinite(value) and (value > bound if strict else value >= bound)
            if not ok:
                relation = "greater than" if strict else "at least"
                raise ConfigError(
                    f"--{dest.replace('_', '-')} must be {relation} {bound:g}, got {value:g}"
                )
        return command(args)

    return run


def _cmd_experiment(args: argparse.Namespace) -> int:
    from .experiment.config import load_config
    from .experiment.run import run_experiment
    from .experiment.scope import RunScope

    cfg = load_config(args.config)
    if args.device:
        from .experiment.config import RunSettings

        cfg = replace(cfg, run=RunSettings(device=args.device))
    scope = RunScope(
        systems=tuple(args.only_systems) if args.only_systems else None,
        seeds=tuple(args.only_seeds) if args.only_seeds else None,
    )
    result = run_experiment(
        cfg,
        Path(args.out),
        data=args.data_dir,
        cache=args.cache_dir,
        scope=scope,
        command=shlex.join(["optical", *args.argv]),
    )
    from .experiment.benchmarks import BENCHMARKS
    from .experiment.report import markdown_table

    for benchmark in cfg.benchmarks:
        measure = BENCHMARKS[benchmark].primary
        print(f"\n{benchmark} — {measure}")
        print(markdown_table(result.rows, result.significance, benchmark, measure))
    print("\nWhere the time went:")
    from .timing import Timer

    print(Timer(result.timings, total=result.total_seconds).table())
    print(
        f"\nwrote {result.out_dir}/report.md, report.html, results.json, significance.json, "
        + ", ".join(f"{b}.png" for b in cfg.benchmarks)
    )
    return 0


def _passages_for(args: argparse.Namespace) -> list[Passage]:
    from .data.passages import load_passages, load_wikipedia_vital
    from .data.xquad import load_xquad

    if args.passages in {"xquad", "wikipedia-vital"}:
        if args.passages == "xquad":
            return list(load_xquad(args.data_dir, languages=("en",)).passages)
        return load_wikipedia_vital(args.data_dir)
    return load_passages(args.passages)


def _int8(args: argparse.Namespace) -> bool | None:
    """The int8 request of ``index`` / ``search``: the default; ``None`` (never, not even
    under ``$OPTICAL_INT8=on``) with ``--fp32``."""
    from .precision import INT8_DEFAULT

    return None if args.fp32 else INT8_DEFAULT


DEFAULT_ENCODER = "multilingual-e5-small"


def _canonical(name: str) -> str:
    """An encoder name as comparable text: an alias's model, a folder's absolute path."""
    from .models.registry import OFFLINE_ALIASES

    alias = OFFLINE_ALIASES.get(name.strip().lower())
    if alias:
        return alias
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _check_encoder_options(args: argparse.Namespace) -> None:
    if args.encoder and (args.query_encoder or args.passage_encoder):
        raise ConfigError(
            "--encoder names the encoder of both queries and passages: give either it or "
            "--query-encoder / --passage-encoder, not both"
        )


def _encoder_pair(args: argparse.Namespace) -> tuple[str, str]:
    """The ``(query encoder, passage encoder)`` of ``index`` / ``search``, the choice logged.

    ``--encoder`` is both; ``--query-encoder Q`` with ``--passage-encoder P`` is Q and P;
    without P, a distilled student Q searches its recorded teacher's index (the teacher's
    passage embeddings, the same cache entries as with ``--encoder TEACHER``) and any
    other Q its own; with neither, both are :data:`DEFAULT_ENCODER`.
    """
    from .models.student import is_student_folder, recorded_teacher

    _check_encoder_options(args)
    if args.encoder or not (args.query_encoder or args.passage_encoder):
        name = args.encoder or DEFAULT_ENCODER
        if is_student_folder(name):
            logger.info(
                "encoder %s for queries and passages; a distilled student is a query encoder "
                "(--query-encoder %s searches its teacher's index)",
                name,
                name,
            )
        else:
            logger.debug("encoder %s for queries and passages", name)
        return name, name
    query = args.query_encoder or DEFAULT_ENCODER
    teacher = recorded_teacher(query)
    if args.passage_encoder:
        passage, why = args.passage_encoder, "--passage-encoder"
        if teacher is not None and _canonical(teacher) != _canonical(passage):
            logger.warning(
                "student %s was distilled into the space of %s, not of passage encoder %s",
                query,
                teacher,
                passage,
            )
    elif teacher is not None:
        passage, why = teacher, "the teacher the student records"
    elif is_student_folder(query):
        raise ConfigError(
            f"student {query} records no teacher: name the passage encoder with --passage-encoder"
        )
    else:
        passage, why = query, "the query encoder, not a distilled student"
    logger.info("queries: %s; passages: %s (%s)", query, passage, why)
    return query, passage


def _default_shard(args: argparse.Namespace) -> tuple[int, int]:
    """``--shard I/N``, else the torchrun rank / world size, else the whole corpus."""
    if args.shard:
        return _shard(args.shard)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


def _cmd_index_merge(args: argparse.Namespace) -> int:
    from .index import merge_index

    if not args.folder:
        raise ConfigError("optical index merge needs the index folder: optical index merge DIR")
    sample = {"train_sample": args.train_sample} if args.train_sample else {}
    merged = merge_index(args.folder, args.factory, device=str(_device(args)), **sample)
    print(
        f"merged {merged.passages} passages of {args.folder} into a {args.factory} index "
        f"(built on {merged.device})"
    )
    return 0


def _cmd_index_shard(args: argparse.Namespace, encoder_name: str) -> int:
    from .index import build_shard
    from .models.student import load_any_encoder

    shard = _default_shard(args)
    encoder = load_any_encoder(encoder_name, bf16=not args.fp32, device=_device(args))
    chunk = {"chunk_passages": args.chunk_passages} if args.chunk_passages else {}
    result = build_shard(
        args.passages,
        args.out,
        encoder,
        shard,
        encoder_name=encoder_name,
        batch_size=args.batch_size,
        **chunk,
    )
    print(
        f"shard {shard[0]}/{shard[1]} of {args.passages}: {result.passages} passages in "
        f"{result.chunks} chunks ({result.encoded_chunks} encoded now) in {result.folder}"
    )
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from .experiment.workbench import Workbench
    from .settings import cache_dir

    if args.action == "merge":
        return _cmd_index_merge(args)
    if args.folder:
        raise ConfigError(f"optical index: unexpected argument {args.folder!r}")
    if not args.passages:
        raise ConfigError("optical index needs --passages (or: optical index merge DIR)")
    _, encoder = _encoder_pair(args)
    if args.out:
        return _cmd_index_shard(args, encoder)
    passages = _passages_for(args)
    wb = Workbench(
        cache_dir(args.cache_dir), bf16=not args.fp32, int8=_int8(args), device=_device(args)
    )
    encoded = wb.embed(
        encoder,
        [p.text for p in passages],
        "passage",
        with_tokens=args.tokens,
        label=f"index ({encoder})",
    )
    stats = wb.cache(encoder).last_stats
    print(
        f"indexed {len(passages)} passages with {encoder}: {stats.encoded} encoded, "
        f"{stats.hits} from cache ({wb.cache(encoder).folder}); dim {encoded.pooled.shape[1]}"
    )
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from .data.queries import read_queries
    from .experiment.systems import dense_search
    from .experiment.workbench import Workbench
    from .runs import write_run
    from .search import BM25Index
    from .settings import cache_dir
    from .types import RetrievalBenchmark

    _check_encoder_options(args)
    if args.index:
        return _search_index(args)
    if not args.passages:
        raise ConfigError("optical search needs --passages or --index")
    passages = _passages_for(args)
    qids, texts = read_queries(args.queries)
    if args.method == "bm25":
        run = BM25Index(passages).search(qids, texts, args.k)
    else:
        query_encoder, passage_encoder = _encoder_pair(args)
        maxsim = args.method == "maxsim"
        wb = Workbench(
            cache_dir(args.cache_dir),
            bf16=not args.fp32,
            int8=_int8(args),
            token_encoders=[passage_encoder] if maxsim else [],
            device=_device(args),
        )
        collection = RetrievalBenchmark(f"search:{args.passages}", tuple(passages), {}, {})
        wb.dense_index(passage_encoder, collection)  # built once; dense_search reuses it
        stats = wb.cache(passage_encoder).last_stats
        logger.info(
            "passage index (%s): %d from cache, %d encoded",
            passage_encoder,
            stats.hits,
            stats.encoded,
        )
        run = dense_search(
            wb,
            query_encoder,
            passage_encoder,
            collection,
            qids,
            texts,
            args.k,
            args.maxsim_depth if maxsim else None,
        )
    write_run(args.out, run, tag=args.tag or args.method)
    print(f"wrote {len(run)} queries × ≤{args.k} passages to {args.out}")
    return 0


def _search_index(args: argparse.Namespace) -> int:
    """``optical search --index DIR``: the query encoder is the one the index records
    (or ``--query-encoder``, e.g. a student distilled into that encoder's space)."""
    from .data.queries import read_queries
    from .index import ShardedIndex, read_manifest
    from .models.student import load_any_encoder, recorded_teacher
    from .runs import write_run

    if args.method != "dense":
        raise ConfigError("--index holds dense vectors: --method must be dense")
    manifest = read_manifest(args.index)
    query = args.query_encoder or args.encoder or manifest.encoder
    teacher = recorded_teacher(query)
    space = teacher if teacher is not None else query
    if _canonical(space) != _canonical(manifest.encoder):
        logger.warning(
            "query encoder %s does not embed into the space of the index's encoder %s",
            query,
            manifest.encoder,
        )
    index = ShardedIndex(args.index)
    index.set_parameters(nprobe=args.nprobe, ef_search=args.ef_search, rerank=args.rerank)
    qids, texts = read_queries(args.queries)
    encoder = load_any_encoder(query, bf16=not args.fp32, device=_device(args))
    encoded = encoder.encode(texts, kind="query")
    run = index.run(qids, encoded.pooled, args.k)
    write_run(args.out, run, tag=args.tag or "dense")
    print(f"wrote {len(run)} queries × ≤{args.k} passages from {args.index} to {args.out}")
    return 0


def _check_ids_match(
    gold: Sequence[XorQuestion], predictions: Mapping[str, object], gold_file: str, pred_file: str
) -> None:
    """An error when no prediction is for a scored gold question (every R@kt would be a
    silent 0.0: the wrong file, or ids of another id scheme)."""
    from .evaluate.errors import EvaluationError
    from .evaluate.xor_metric import span_answers

    scored = [q.id for q in gold if span_answers(q.answers)]
    if not scored or any(qid in predictions for qid in scored):
        return  # no scored question is xor_eval's own error
    example = f" (e.g. {next(iter(predictions))!r} vs {scored[0]!r})" if predictions else ""
    raise EvaluationError(
        f"no prediction id in {pred_file} matches a question id in {gold_file}{example}: "
        "every R@kt would be 0; are these the predictions for this gold file?"
    )


def _cmd_xor_eval(args: argparse.Namespace) -> int:
    from .data.xor_tydi import read_xor_jsonl
    from .evaluate.xor_metric import xor_eval
    from .runs import ctxs_by_id, read_xor_predictions

    gold = read_xor_jsonl(args.gold)
    predictions = ctxs_by_id(read_xor_predictions(args.predictions))
    _check_ids_match(gold, predictions, args.gold, args.predictions)
    report = xor_eval(gold, predictions)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        langs = list(report["n"])
        print("lang   " + "  ".join(f"{lang:>6}" for lang in [*langs, "macro"]))
        for name in ("R@2kt", "R@5kt"):
            print(
                f"{name:<6} "
                + "  ".join(f"{report[name][lang]:6.2f}" for lang in [*langs, "macro"])
            )
        print("n      " + "  ".join(f"{report['n'][lang]:>6}" for lang in langs))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .perf import BENCHMARKS, get_benchmark

    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    results = []
    for name in names:
        fn = get_benchmark(name)
        result = fn()
        results.append(result)
        if not args.json:
            extras = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in result.items()
                if k not in {"name"}
            )
            print(f"{name}: {extras}")
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 0


def _cmd_distill(args: argparse.Namespace) -> int:
    from .train.distill import train_distill

    student = train_distill(
        args.config,
        Path(args.out),
        data_dir=args.data_dir,
        resume=args.resume,
        cache=args.cache_dir,
        device=args.device,
    )
    print(f"student written to {student} (use it as an encoder name: {student})")
    from .models.student import describe_student

    summary = describe_student(student)
    if summary:
        print(summary)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .models.export import export_sentence_transformers

    exported = export_sentence_transformers(args.student, args.out)
    print(
        f"exported {args.student} as a {args.format} model to {exported.folder} "
        f"(query cosine to optical's encoder ≥ {exported.min_cosine:.6f}; model card README.md)"
    )
    return 0


def _shard(text: str) -> tuple[int, int]:
    """``--shard I/N`` as ``(I, N)``, checked (``0 <= I < N``) before any work is done."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard takes I/N (e.g. 0/2), not {text!r}") from None
    if not 0 <= index < count:
        raise ConfigError(f"--shard {text}: need 0 <= I < N")
    return index, count


def _cmd_ablate(args: argparse.Namespace) -> int:
    from .experiment.ablation import load_ablation_config, run_ablation

    index, count = _shard(args.shard) if args.shard is not None else (0, 1)
    cfg = load_ablation_config(args.config)
    rows = run_ablation(
        cfg,
        Path(args.out),
        data_dir=args.data_dir,
        cache=args.cache_dir,
        shard=(index, count),
        device=args.device,
    )
    if count == 1:
        print((Path(args.out) / "ablation.md").read_text(encoding="utf-8"))
    else:
        print(f"shard {index}/{count}: {len(rows)} runs; run without --shard to merge")
    return 0


def _cmd_forgetting(args: argparse.Namespace) -> int:
    import json

    from .experiment.forgetting import as_json, forgetting_report, read_option
    from .io_utils import atomic_write_text

    results = [r for folder in args.folders for r in read_option(Path(folder))]
    report = forgetting_report(results, args.max_loss, args.baseline)
    summary = json.dumps(as_json(results, args.max_loss, args.baseline), indent=2)
    if args.out:
        atomic_write_text(args.out, report + "\n")
        atomic_write_text(Path(args.out).with_suffix(".json"), summary + "\n")
    print(summary if args.json else report)
    return 0


def _cmd_nmt_curves(args: argparse.Namespace) -> int:
    from .experiment.report_sections import nmt_curve_section
    from .io_utils import atomic_write_text
    from .nmt.train import nmt_validation_curve

    curves = {}
    for folder in map(Path, args.runs):
        curve = nmt_validation_curve(folder)
        if not curve:
            raise OpticalError(f"{folder}: no validation in {folder / 'metrics.jsonl'}")
        curves[folder.name] = curve
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = nmt_curve_section(curves, out.parent, args.against, out.with_suffix(".png").name)
    atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _cmd_nmt_revalidate(args: argparse.Namespace) -> int:
    from .nmt.train import REVALIDATION_FILE, revalidate_nmt

    for folder in args.runs:
        record = revalidate_nmt(
            folder, data_dir=args.data_dir, cache=args.cache_dir, device=args.device
        )
        scores = ", ".join(
            f"{key} {value:.4f}" if key == "loss" else f"{key} {value:.1f}"
            for key, value in record["validation"].items()
            if key == "loss" or key.startswith("chrF")
        )
        print(f"{folder}: step {record['step']}: {scores} (in {Path(folder) / REVALIDATION_FILE})")
    return 0


def _cmd_repro(args: argparse.Namespace) -> int:
    from .experiment.reproduction import MATRIX, check_file, load_matrix, render_table

    if args.repro_command == "record":
        from .experiment.reproduction import record_condition, update_readme

        condition = record_condition(
            args.matrix or MATRIX,
            args.name,
            args.command,
            args.config,
            args.results,
            args.tol,
            args.readme is not None,
        )
        print(f"{condition.name}: {len(condition.expect)} expected scores recorded")
        if args.readme and not update_readme(args.readme, condition):
            raise ConfigError(
                f"{args.readme} has no <!-- repro:{args.name}:start --> / end markers"
            )
        return 0
    conditions = load_matrix(args.matrix or MATRIX)
    if args.name not in conditions:
        raise ConfigError(f"no condition {args.name!r}; known: {', '.join(conditions)}")
    condition = conditions[args.name]
    if args.repro_command == "render":
        print(render_table(condition))
        return 0
    if args.run:
        from .experiment.config import load_config
        from .experiment.run import run_experiment

        out = Path(args.results).parent if args.results else Path(condition.results).parent
        run_experiment(
            load_config(condition.config),
            out,
            data=args.data_dir,
            cache=args.cache_dir,
            command=shlex.join(["optical", *args.argv]),
        )
    problems = check_file(condition, args.results)
    for problem in problems:
        print(problem)
    print(
        f"{condition.name}: {len(condition.expect) - len(problems)} of {len(condition.expect)} "
        "expected scores reproduced"
    )
    return 1 if problems else 0


def _cmd_train_nmt(args: argparse.Namespace) -> int:
    from .nmt.train import train_nmt

    model = train_nmt(
        args.config,
        Path(args.out),
        data_dir=args.data_dir,
        resume=args.resume,
        cache=args.cache_dir,
        device=args.device,
    )
    print(f"NMT model written to {model} (translate with: optical translate --model {model})")
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    from .translate.base import build_translator
    from .translate.cache import CachedTranslator

    options: dict[str, object] = {}
    if args.backend == "nmt":
        if not args.model:
            raise ConfigError("--backend nmt needs --model (the model folder of optical train-nmt)")
        options = {"model": args.model, "beams": args.beams, "cache": args.cache_dir}
        options["device"] = args.device or "auto"
    elif args.backend == "hf":
        if not args.model:
            raise ConfigError("--backend hf needs --model (a hub name or local folder)")
        options = {"model": args.model, "num_beams": args.beams or 1}
        options["device"] = args.device or "auto"
    translator = build_translator(args.backend, **options)
    if not args.no_cache:
        translator = CachedTranslator(
            translator, root=args.cache_dir and Path(args.cache_dir) / "translations"
        )
    if args.text:  # a blank text argument is an error of the backend's request check
        outputs = [item.text for item in translator.translate(args.text, args.source, args.target)]
    else:
        outputs = _translate_lines(translator, sys.stdin, args.source, args.target)
    for text in outputs:
        print(text)
    return 0


def _translate_lines(translator: Translator, stream: TextIO, source: str, target: str) -> list[str]:
    """One output line per input line: a blank line stays blank and is not translated."""
    lines = [line.rstrip("\r\n") for line in stream]
    todo = [index for index, line in enumerate(lines) if line.strip()]
    outputs = [""] * len(lines)
    if todo:
        done = translator.translate([lines[index] for index in todo], source, target)
        for index, item in zip(todo, done, strict=True):
            outputs[index] = item.text
    return outputs


def _cmd_align(args: argparse.Namespace) -> int:
    from .align import plot_alignment

    options = {}
    if args.teacher:
        options["teacher"] = args.teacher
    if args.eps is not None:
        options["eps"] = args.eps
    if args.device:
        options["device"] = args.device
    alignment = plot_alignment(args.model, args.source, args.english, args.out, **options)
    print(
        f"wrote {args.out}: {len(alignment.source_tokens)} × {len(alignment.english_tokens)} "
        f"tokens, ⟨P, C⟩ = {alignment.cost:.4f}, {alignment.iterations} Sinkhorn iterations"
    )
    return 0


def _cache_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        help="cache for models, embeddings and translations "
        "(default: $OPTICAL_CACHE_DIR or ~/.cache/optical)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="reference data directory (default: $OPTICAL_DATA_DIR)")
    _cache_flag(p)


def _device_flag(p: argparse.ArgumentParser, default: str = "the config's run.device") -> None:
    p.add_argument(
        "--device",
        metavar="DEVICE",
        help=f"where models run: {DEVICE_CHOICES} (default: {default}; auto = CUDA when "
        "available; under torchrun cuda:LOCAL_RANK)",
    )


def _device(args: argparse.Namespace) -> torch.device:
    """The ``--device`` of a command without a config, resolved (default ``auto``)."""
    from .device import resolve_device

    return resolve_device(args.device or "auto", "--device")


def _add_data(sub: Subcommands) -> None:
    data = sub.add_parser("data", help="inspect the reference data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    show = data_sub.add_parser("show", help="counts per language of one dataset")
    show.add_argument(
        "name",
        help="xor-tydi-dev, xor-tydi-train, xor-tydi-heldout, xquad, ntrex, tatoeba, mkqa, "
        "opus-tatoeba, newstest, lafand-mt, menyo20k, small-parallel-enja, wikipedia-vital, "
        "training-bitext",
    )
    show.add_argument("--json", action="store_true", help="print one JSON object")
    _common(show)
    show.set_defaults(func=_cmd_data_show)


def _add_experiment(sub: Subcommands) -> None:
    exp = sub.add_parser("experiment", help="run benchmarks × systems × languages, write a report")
    exp.add_argument("config", help="experiment TOML (e.g. configs/quick.toml)")
    exp.add_argument("--out", required=True, help="output directory")
    exp.add_argument(
        "--only-systems",
        type=_name_list,
        metavar="A,B,…",
        help="run only these configured systems now (a study in parts; cells are reused)",
    )
    exp.add_argument(
        "--only-seeds",
        type=_int_list,
        metavar="0,1,…",
        help="train and run the trained systems with only these of the configured seeds",
    )
    _common(exp)
    _device_flag(exp)
    exp.set_defaults(func=_cmd_experiment)


def _corpus_parser(sub: Subcommands, name: str, helptext: str) -> argparse.ArgumentParser:
    """A verb over a passage collection and an encoder (``index``, ``search``)."""
    p = sub.add_parser(name, help=helptext)
    p.add_argument(
        "--passages", help="xquad, wikipedia-vital, or a .tsv (DPR) / .jsonl / .json file"
    )
    p.add_argument(
        "--encoder",
        help="the encoder of queries and passages: alias (multilingual-e5-small, "
        "all-MiniLM-L6-v2), folder or hub id (default multilingual-e5-small)",
    )
    p.add_argument(
        "--query-encoder",
        metavar="NAME",
        help="the query encoder, e.g. a distilled student folder (instead of --encoder)",
    )
    p.add_argument(
        "--passage-encoder",
        metavar="NAME",
        help="the passage encoder (default: the teacher a student --query-encoder records, "
        "else the query encoder)",
    )
    p.add_argument(
        "--fp32", action="store_true", help="plain fp32: no bf16 autocast, no int8 encoding"
    )
    _common(p)
    _device_flag(p, "auto")
    return p


def _add_index(sub: Subcommands) -> None:
    p = _corpus_parser(sub, "index", "encode a passage collection into the embedding cache")
    p.add_argument("action", nargs="?", choices=("merge",), help="merge: build the FAISS index")
    p.add_argument("folder", nargs="?", help="merge: the index folder")
    p.add_argument("--tokens", action="store_true", help="also cache token embeddings (for MaxSim)")
    p.add_argument("--out", help="an index folder: encode --shard of a DPR TSV into it")
    p.add_argument("--shard", help="I/N: this process's slice (default: torchrun rank/world)")
    p.add_argument("--chunk-passages", type=int, help="passages per chunk (memory bound)")
    p.add_argument("--batch-size", type=int, default=128, help="texts per forward pass")
    p.add_argument("--factory", default="Flat", help="merge: FAISS factory (Flat, IVF…,PQ…, HNSW…)")
    p.add_argument("--train-sample", type=int, help="merge: vectors to train the index on")
    p.set_defaults(func=_checked(_cmd_index, chunk_passages=(1, False), batch_size=(1, False)))


def _add_search(sub: Subcommands) -> None:
    p = _corpus_parser(sub, "search", "retrieve for a queries file and write a TREC run")
    p.add_argument("--queries", required=True, help="qid<TAB>text lines, or JSONL id/text")
    p.add_argument("--method", choices=("dense", "maxsim", "bm25"), default="dense")
    p.add_argument("--k", type=int, default=100, help="passages per query")
    p.add_argument("--maxsim-depth", type=int, default=100)
    p.add_argument("--tag", help="run tag (default: the method)")
    p.add_argument("--out", required=True, help="TREC run file to write")
    p.add_argument("--index", help="an index folder of optical index --out … / index merge")
    p.add_argument("--nprobe", type=int, help="--index: IVF lists probed")
    p.add_argument("--ef-search", type=int, help="--index: HNSW search depth")
    p.add_argument(
        "--rerank",
        type=int,
        metavar="K'",
        help="--index: re-score the approximate top K' exactly with the shards' fp16 "
        "vectors (e.g. 200 for an IVF-PQ index; see optical bench index)",
    )
    p.set_defaults(func=_checked(_cmd_search, k=(1, False), maxsim_depth=(1, False)))


def _add_distill(sub: Subcommands) -> None:
    distill = sub.add_parser(
        "distill",
        help="distil the English teacher into a multilingual "
        "student on training bitext (OPTICAL and its ablations)",
    )
    distill.add_argument("config", help="distillation TOML (e.g. configs/distill-quick.toml)")
    distill.add_argument("--out", required=True, help="output folder (checkpoints, student/)")
    distill.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    _common(distill)
    _device_flag(distill)
    distill.set_defaults(func=_cmd_distill)


def _add_export(sub: Subcommands) -> None:
    from .models.export import FORMATS

    export = sub.add_parser(
        "export", help="write a distilled student as a sentence-transformers model folder"
    )
    export.add_argument("student", help="a distilled student folder (…/student)")
    export.add_argument(
        "--format", choices=FORMATS, default=FORMATS[0], help="output format (default %(default)s)"
    )
    export.add_argument("--out", required=True, help="output folder (replaced)")
    _cache_flag(export)
    export.set_defaults(func=_cmd_export)


def _add_forgetting(sub: Subcommands) -> None:
    from .experiment.forgetting import MAX_OUT_OF_DOMAIN_LOSS

    forgetting = sub.add_parser(
        "forgetting",
        help="gain vs forgetting of trained systems across experiment output folders "
        "(one per option), and the option chosen on validation data",
    )
    forgetting.add_argument("folders", nargs="+", help="experiment output folders (options)")
    forgetting.add_argument(
        "--max-loss",
        type=float,
        default=MAX_OUT_OF_DOMAIN_LOSS,
        help="largest validation P@1 drop on other text a chosen option may cost "
        "(default %(default)s)",
    )
    forgetting.add_argument(
        "--baseline",
        default="full-finetune",
        help="the option kept unless another gains more than one standard error above it "
        "(default: full-finetune; '' = none)",
    )
    forgetting.add_argument("--out", help="also write the table here (FILE.md and FILE.json)")
    forgetting.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    forgetting.set_defaults(func=_cmd_forgetting)


def _add_nmt_curves(sub: Subcommands) -> None:
    curves = sub.add_parser(
        "nmt-curves",
        help="the validation curves of train-nmt runs side by side (table and figure)",
    )
    curves.add_argument("runs", nargs="+", help="train-nmt output folders (their metrics.jsonl)")
    curves.add_argument(
        "--against",
        choices=("step", "train_s"),
        default="train_s",
        help="the figure's x axis: training step or training seconds (default: seconds, "
        "to compare runs at equal wall time)",
    )
    curves.add_argument("--out", required=True, help="FILE.md (the figure: FILE.png)")
    curves.set_defaults(func=_cmd_nmt_curves)


def _add_nmt_revalidate(sub: Subcommands) -> None:
    again = sub.add_parser(
        "nmt-revalidate",
        help="score the saved model of finished train-nmt runs again on their validation "
        "pairs with this version's decoding (written to RUN/revalidation.json; nmt-curves "
        "and the study report add it to the curve)",
    )
    again.add_argument("runs", nargs="+", help="train-nmt output folders")
    _common(again)
    _device_flag(again)
    again.set_defaults(func=_cmd_nmt_revalidate)


def _add_ablate(sub: Subcommands) -> None:
    ablate = sub.add_parser(
        "ablate", help="distillation ablations × seeds, scored on held-out training bitext"
    )
    ablate.add_argument("config", help="ablation TOML (e.g. configs/ablation.toml)")
    ablate.add_argument("--out", required=True, help="output folder (ablation.json, ablation.md)")
    ablate.add_argument(
        "--shard", help="I/N: train only every N-th run from the I-th (parallel processes)"
    )
    _common(ablate)
    _device_flag(ablate)
    ablate.set_defaults(func=_cmd_ablate)


def _add_repro(sub: Subcommands) -> None:
    repro = sub.add_parser("repro", help="the reproduction matrix (reproduction/matrix.toml)")
    repro_sub = repro.add_subparsers(dest="repro_command", required=True)
    matrix_help = "matrix file (default reproduction/matrix.toml)"
    check = repro_sub.add_parser(
        "check", help="compare a condition's results file with its expected scores"
    )
    check.add_argument("name", help="condition name (e.g. smoke, study)")
    check.add_argument("--matrix", help=matrix_help)
    check.add_argument("--results", help="results.json to check (default: the condition's)")
    check.add_argument("--run", action="store_true", help="run the condition's config first")
    _common(check)
    check.set_defaults(func=_cmd_repro)
    render = repro_sub.add_parser("render", help="print a condition's README table")
    render.add_argument("name", help="condition name (e.g. smoke, study)")
    render.add_argument("--matrix", help=matrix_help)
    render.set_defaults(func=_cmd_repro)
    record = repro_sub.add_parser(
        "record", help="write a condition's expected scores from a run's results.json"
    )
    record.add_argument("name", help="condition name (e.g. study)")
    record.add_argument("--results", required=True, help="the run's results.json")
    record.add_argument("--command", required=True, help="the command that produced it")
    record.add_argument("--config", required=True, help="the experiment config it ran")
    record.add_argument("--tol", type=float, default=0.01, help="tolerance (default 0.01)")
    record.add_argument("--readme", help="also render the table into this README's markers")
    record.add_argument("--matrix", help=matrix_help)
    record.set_defaults(func=_checked(_cmd_repro, tol=(0, False)))


def _add_train_nmt(sub: Subcommands) -> None:
    nmt = sub.add_parser(
        "train-nmt",
        help="train the in-project NMT model (frozen encoder + small decoder) on training bitext",
    )
    nmt.add_argument("config", help="NMT TOML (e.g. configs/nmt-quick.toml)")
    nmt.add_argument("--out", required=True, help="output folder (checkpoints, model/)")
    nmt.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    _common(nmt)
    _device_flag(nmt)
    nmt.set_defaults(func=_cmd_train_nmt)


def _add_translate(sub: Subcommands) -> None:
    translate = sub.add_parser("translate", help="translate texts (arguments, or stdin lines)")
    translate.add_argument("text", nargs="*", help="texts (default: one per stdin line)")
    translate.add_argument("--source", required=True, help="source language code")
    translate.add_argument("--target", required=True, help="target language code")
    translate.add_argument("--backend", default="nmt", help="nmt, hf, apertium or oracle")
    translate.add_argument("--model", help="nmt: model folder; hf: hub name or folder")
    translate.add_argument("--beams", type=int, help="beam size (default: the model's)")
    translate.add_argument("--no-cache", action="store_true", help="bypass the translation cache")
    _common(translate)
    _device_flag(translate, "auto")
    translate.set_defaults(func=_checked(_cmd_translate, beams=(1, False)))


def _add_align(sub: Subcommands) -> None:
    align = sub.add_parser("align", help="draw the OT token alignment of a sentence pair")
    align.add_argument(
        "--model",
        required=True,
        help="a distilled student folder or any encoder name (the student side)",
    )
    align.add_argument("source", help="the sentence in the source language")
    align.add_argument("english", help="its English translation")
    align.add_argument("--out", required=True, help="PNG file to write")
    align.add_argument("--teacher", help="teacher encoder (default: the student's teacher)")
    align.add_argument("--eps", type=float, help="entropic regularisation ε")
    _cache_flag(align)
    _device_flag(align, "auto")
    align.set_defaults(func=_checked(_cmd_align, eps=(0, True)))


def _add_xor_eval(sub: Subcommands) -> None:
    xor = sub.add_parser("xor-eval", help="official XOR-Retrieve R@2kt / R@5kt")
    xor.add_argument("--gold", required=True, help="XOR-Retrieve gold jsonl")
    xor.add_argument(
        "--predictions",
        required=True,
        help='JSON list of {"id", "lang", "ctxs": [passage texts in rank order]}',
    )
    xor.add_argument("--json", action="store_true")
    xor.set_defaults(func=_cmd_xor_eval)


def _add_bench(sub: Subcommands) -> None:
    bench = sub.add_parser("bench", help="performance benchmarks (ratio against a baseline)")
    bench.add_argument("name", help="ot-solver, distill-step, encode, … or all")
    bench.add_argument("--json", action="store_true")
    _cache_flag(bench)
    bench.set_defaults(func=_cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optical",
        description="Cross-lingual retrieval into English: OT distillation vs back-translation.",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        default=0,
        help="show only warnings and errors on stderr",
    )
    loudness.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, help="debug messages"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data(sub)
    _add_experiment(sub)
    _add_index(sub)
    _add_search(sub)
    _add_distill(sub)
    _add_export(sub)
    _add_ablate(sub)
    _add_forgetting(sub)
    _add_nmt_curves(sub)
    _add_nmt_revalidate(sub)
    _add_repro(sub)
    _add_train_nmt(sub)
    _add_translate(sub)
    _add_align(sub)
    _add_xor_eval(sub)
    _add_bench(sub)
    return parser


class _CliHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (so a replaced stderr is honoured)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(verbosity: int = 0) -> None:
    """Send the ``optical`` loggers' messages to stderr as ``[optical] message``: INFO and up
    (``verbosity`` 0), WARNING and up (-1, ``--quiet``) or everything (1, ``--verbose``).

    Idempotent: calling it again replaces the handler it installed before.
    """
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity]
    logger = logging.getLogger("optical")
    for handler in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_CliHandler())
    logger.setLevel(level)


_OUTPUT_FILES = {
    "search": ("out",),
    "align": ("out",),
    "repro": ("readme", "matrix"),
    "forgetting": ("out",),
}
_OUTPUT_DIRS = {
    "experiment": ("out",),
    "distill": ("out",),
    "export": ("out",),
    "ablate": ("out",),
    "train-nmt": ("out",),
}
_CACHE_USERS = {
    "experiment",
    "index",
    "search",
    "distill",
    "export",
    "ablate",
    "train-nmt",
    "nmt-revalidate",
    "translate",
    "align",
}


def _uses_cache(args: argparse.Namespace) -> bool:
    if args.command == "repro":
        return bool(getattr(args, "run", False))
    if args.command == "search":
        return args.method != "bm25"
    if args.command == "translate":
        return not args.no_cache or args.backend == "nmt"
    return args.command in _CACHE_USERS


def check_locations(args: argparse.Namespace) -> None:
    """Before any work: the command's output files and folders can be written, and its
    cache directory can be created and written (:class:`~optical.errors.FileError`)."""
    from .io_utils import check_output_dir, check_output_file
    from .settings import cache_dir

    written_files = _OUTPUT_FILES.get(args.command, ())
    if args.command == "repro" and args.repro_command != "record":
        written_files = ()
    for name in written_files:
        if getattr(args, name, None):
            check_output_file(getattr(args, name))
    for name in _OUTPUT_DIRS.get(args.command, ()):
        check_output_dir(getattr(args, name))
    if _uses_cache(args):
        cache_dir(args.cache_dir)


def _run(args: argparse.Namespace) -> int:
    from .settings import use_cache_dir

    check_locations(args)
    with use_cache_dir(getattr(args, "cache_dir", None)):
        return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as typed, recorded with the outputs it produces
    configure_logging(args.verbosity)
    try:
        return _run(args)
    except OpticalError as exc:
        print(f"optical: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, *DECODE_ERRORS) as exc:
        # the last line of defence: an OS failure or undecodable input is one line too
        print(f"optical: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("optical: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
