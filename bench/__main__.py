"""python -m bench: how fast is segstream on this machine, and is it real time?

    python -m bench                         # everything, about 3 minutes on a 2-core CPU
    python -m bench --quick --json b.json   # the short version, under a minute
    python -m bench --mode engine --model m.onnx
    python -m bench --mode pipeline --set runtime.infer_workers=1

Modes: engine (the network alone, per thread setting), stages (each stage alone), sequential (the
single-thread loop), pipeline (threaded: offline throughput, live at 30 and 60 fps), streams (1, 2,
4, 8 cameras), all; serve alone (``python -m bench --mode serve`` is ``python -m bench.serve``:
the pipeline with 0 to 50 MJPEG viewers, POST /v1/segment under load) writes serve.json/.md. Writes bench.json, bench.md and PNG plots into --out (default out/bench/).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from bench.report import write_all
from bench.run import MODES, Bench, Options
from segcore.errors import UserInputError
from segcore.exits import CommandParser, run_command


def parse(argv: list[str] | None) -> Options:
    parser = CommandParser(prog="python -m bench", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute): fewer frames and rounds")
    parser.add_argument("--mode", nargs="+", choices=(*MODES, "serve"), default=["all"],
                        help="what to measure (default: all; serve only alone)")
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument("--clip", type=Path, help="video to use (default: a 1280x720 H.264 street clip made once)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--out", type=Path, default=Path("out/bench"), help="folder for bench.json/.md, plots, clips")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline config override, e.g. runtime.infer_workers=1 (repeatable)")
    args = parser.parse_args(argv)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return Options(modes=tuple(args.mode), quick=args.quick, model=args.model, clip=args.clip, out=args.out,
                   json=args.json, overrides=tuple(args.overrides), command=command.strip())


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    options = parse(argv)
    if "serve" in options.modes:
        if options.modes != ("serve",):
            raise UserInputError("--mode serve runs alone; run the other modes in a second command")
        from bench.serve import main as serve

        model = ["--model", str(options.model)] if options.model else []
        json_path = options.json or options.out / "serve.json"
        return serve([*(["--quick"] if options.quick else []), *model, "--json", str(json_path)])
    result = Bench(options, progress=lambda line: print(line, flush=True)).run()
    for path in write_all(result, options.out, options.json):
        print(f"wrote {path}")
    targets = result["targets"]
    for key in ("pipeline_over_sequential", "pipeline_over_engine", "live_30_e2e_p99"):
        entry = targets[key]
        verdict = {True: "met", False: "NOT met", None: "not measured"}[entry["met"]]
        print(f"target {entry['target']}: {entry['value']} (limit {entry['limit']}) {verdict}")
    print(f"done in {result['duration_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
