"""advlab's FID Inception-v3 against pytorch-fid's own network, on the same random weights.

pytorch-fid (0.3) builds its FID network in ``pytorch_fid.inception.fid_inception_v3()``: torchvision's
``inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)`` with Mixed_5b..5d
replaced by ``FIDInceptionA``, Mixed_6b..6e by ``FIDInceptionC``, Mixed_7b by ``FIDInceptionE_1`` and
Mixed_7c by ``FIDInceptionE_2``, then it downloads the weights. This script builds exactly that network
but never downloads: it fills it with seeded random weights instead (conv and fc weights He-normal,
BatchNorm weight and running variance uniform in [0.5, 1.5], bias and running mean normal with sd 0.1,
so a BatchNorm statistic that is ignored or mixed up shows), saves its ``state_dict`` with
``torch.save`` and loads that file with ``advlab.models.inception_fid.load_fid_inception`` (strict).

Then, on the same random images (uniform in [0, 1], seeded) of each size, it compares

* pool3 features: advlab's ``embed(images)[0]`` against pytorch-fid's ``InceptionV3(output_blocks=[3],
  resize_input=True, normalize_input=True)`` wrapper (its builder pointed at the network above), the
  path ``pytorch_fid.fid_score`` takes;
* logits: advlab's ``embed(images)[1]`` against torchvision's full forward pass of the network above on
  pytorch-fid's input (bilinear resize to 299, align_corners=False, then 2x - 1), in eval mode;

in float32 (max |difference|, and that divided by max |pytorch-fid's value|), and with ``--float64``
again in float64 (both networks and the same images cast to double; where float32 shows rounding
differences, float64 shrinks them, which tells summation order from a different computation).
A control row runs torchvision's *unpatched* Inception-v3 (count_include_pad average pools, no max
pool in Mixed_7c) on the same weights: its difference from pytorch-fid is what a network without the
FID variants would show. PASS when advlab's float32 relative difference is at most
1e-5 for features and logits at every size.

Speed: ms per image of advlab's ``embed`` and of pytorch-fid's wrapper (features only) on the same
batch, each under ``torch.no_grad``, median over rounds, the order of the two sides alternating.

Run it in the peers venv (torchvision and pytorch-fid; advlab is imported from ../src, and needs
safetensors and PyYAML there too)::

    .venv-peers/bin/python bench/inception_vs_pytorch_fid.py            # ~1-2 min on one CPU thread
    .venv-peers/bin/python bench/inception_vs_pytorch_fid.py --check    # exit 1 unless every row passes

The table is printed and written to docs/results/inception_fid.md (``--out`` to change).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))
from benchlib import pinned_cpus  # noqa: E402

DEFAULT_OUT = ROOT / "docs" / "results" / "inception_fid.md"
LIMIT = 1e-5


def import_peers():
    """torchvision and pytorch_fid.inception, or a one-line exit naming what is missing."""
    try:
        import torchvision
        from pytorch_fid import inception as pytorch_fid_inception
    except ImportError as error:
        sys.exit(f"this bench runs in the peers venv (.venv-peers/bin/python): {error}")
    return torchvision, pytorch_fid_inception


def import_advlab():
    try:
        from advlab.models.inception_fid import load_fid_inception
    except ImportError as error:
        sys.exit(f"importing advlab from {ROOT / 'src'} failed: {error} (install it into the peers venv: "
                 f"{sys.executable} -m pip install safetensors pyyaml)")
    return load_fid_inception


def pytorch_fid_network(torchvision, fid):
    """pytorch-fid's fid_inception_v3() without its download: torchvision's Inception3 with the FID blocks."""
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid.FIDInceptionE_1(1280)
    net.Mixed_7c = fid.FIDInceptionE_2(2048)
    return net.eval()


def random_state(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random values for every parameter and BatchNorm statistic of `net`."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in net.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = value.clone()
        elif name.endswith(("running_var", "bn.weight")):
            state[name] = 0.5 + torch.rand(value.shape, generator=generator)
        elif name.endswith(("running_mean", "bias")):
            state[name] = 0.1 * torch.randn(value.shape, generator=generator)
        else:
            state[name] = torch.randn(value.shape, generator=generator) * (2.0 / value[0].numel()) ** 0.5
    return state


def pytorch_fid_wrapper(fid, net):
    """pytorch-fid's InceptionV3(output_blocks=[3]) built around `net` (its builder would download)."""
    builder = fid.fid_inception_v3
    fid.fid_inception_v3 = lambda: net
    try:
        wrapper = fid.InceptionV3(output_blocks=[3], resize_input=True, normalize_input=True)
    finally:
        fid.fid_inception_v3 = builder
    assert wrapper.blocks[0][0] is net.Conv2d_1a_3x3 and wrapper.blocks[3][2] is net.Mixed_7c
    return wrapper.eval()


def peer_outputs(wrapper, net, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pytorch-fid's pool3 features (its wrapper) and torchvision's logits on pytorch-fid's input."""
    with torch.no_grad():
        features = wrapper(images)[0].flatten(1)
        prepared = 2 * F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False) - 1
        return features, net(prepared)


def differences(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[float, float, float]:
    """(max |ours - theirs|, that / max |theirs|, max |theirs|)."""
    scale = float(theirs.abs().max())
    gap = float((ours - theirs).abs().max())
    return gap, gap / scale, scale


def compare(sides: dict, sizes: list[int], count: int, seed: int, dtype: torch.dtype) -> list[dict]:
    rows = []
    for size in sizes:
        images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed + size)).to(dtype)
        features, logits = sides["advlab"].embed(images)
        logits = logits + sides["advlab"].fc.bias  # embed gives the IS logits, without fc's bias
        peer_features, peer_logits = peer_outputs(sides["wrapper"], sides["net"], images)
        rows.append({"size": size, "dtype": str(dtype).replace("torch.", ""),
                     "features": differences(features, peer_features), "logits": differences(logits, peer_logits)})
    return rows


def control(torchvision, state: dict, wrapper, size: int, count: int, seed: int) -> dict:
    """torchvision's unpatched Inception-v3 with the same weights, against pytorch-fid."""
    plain = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    plain.load_state_dict(state)
    plain.eval()
    images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed + size))
    with torch.no_grad():
        prepared = 2 * F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False) - 1
        plain.fc = torch.nn.Identity()
        features = plain(prepared)
        peer_features = wrapper(images)[0].flatten(1)
    return {"size": size, "features": differences(features, peer_features)}


def timing(sides: dict, sizes: list[int], count: int, rounds: int, seed: int) -> list[dict]:
    """Median ms per image of advlab's embed and pytorch-fid's wrapper, alternating which goes first."""
    calls = {"advlab": lambda x: sides["advlab"].embed(x),
             "pytorch-fid": lambda x: sides["wrapper"](x)}
    rows = []
    for size in sizes:
        images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed + size))
        with torch.no_grad():
            for call in calls.values():
                call(images)  # warm-up
            spent: dict[str, list[float]] = {name: [] for name in calls}
            for round_ in range(rounds):
                order = list(calls) if round_ % 2 == 0 else list(reversed(calls))
                for name in order:
                    start = time.perf_counter()
                    calls[name](images)
                    spent[name].append((time.perf_counter() - start) * 1000 / count)
        rows.append({"size": size, **{name: statistics.median(times) for name, times in spent.items()}})
    return rows


def verdict(row: dict) -> str:
    return "PASS" if max(row["features"][1], row["logits"][1]) <= LIMIT else "FAIL"


def render(agreement: list[dict], control_row: dict, speed: list[dict], info: dict, args, command: str) -> str:
    lines = [
        "# advlab's FID Inception-v3 against pytorch-fid's network",
        "",
        (f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, load average at "
         f"start {info['load']}, at the end {info['load_end']}; Python {platform.python_version()}, "
         f"{info['versions']}; {args.threads} torch thread(s), pinned to CPU(s) "
         f"{','.join(map(str, args.cpus)) if args.cpus else 'none'}"),
        f"- date: {info['date']}",
        f"- command: `{command}`",
        f"- total time: {info['seconds']:.0f} s",
        "",
        "## Agreement on the same random weights and images",
        "",
        (f"pytorch-fid's FID network (torchvision Inception3 + pytorch_fid's FIDInceptionA/C/E_1/E_2, as "
         f"fid_inception_v3 builds it) with seeded random weights and BatchNorm statistics; its state_dict saved "
         f"with torch.save and loaded with advlab's load_fid_inception (strict: {info['keys']} keys). "
         f"{args.images} random images per size. Features: advlab embed vs pytorch-fid's InceptionV3(output_blocks="
         f"[3], resize_input=True, normalize_input=True); logits: advlab embed vs torchvision's forward on the "
         f"resized, rescaled images. rel = max |diff| / max |pytorch-fid|. PASS when both float32 rel ≤ {LIMIT:g}."),
        "",
        "| input | dtype | features max abs diff | features rel | max abs feature | logits max abs diff | "
        "logits rel | max abs logit | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in agreement:
        f, g = row["features"], row["logits"]
        judged = verdict(row) if row["dtype"] == "float32" else "(rounding check)"
        lines.append(f"| {row['size']}x{row['size']} | {row['dtype']} | {f[0]:.2e} | {f[1]:.2e} | {f[2]:.3g} | "
                     f"{g[0]:.2e} | {g[1]:.2e} | {g[2]:.3g} | {judged} |")
    c = control_row["features"]
    lines += ["", (f"Control: torchvision's unpatched Inception-v3 (average pools counting the padding, an average "
                   f"pool in Mixed_7c) with the same weights differs from pytorch-fid by max {c[0]:.2e} (rel "
                   f"{c[1]:.2e}) in features on {control_row['size']}x{control_row['size']} images: the size of "
                   "error that leaving out the FID block variants would show.")]
    lines += ["", "## Speed", "",
              (f"ms per image, batch of {args.images}, median over {args.rounds} rounds after one warm-up call each, "
               "order alternating; both under torch.no_grad, both resize to 299x299. advlab's embed computes "
               "features and logits, pytorch-fid's wrapper features only."), "",
              "| input | advlab ms/image | pytorch-fid ms/image | advlab / pytorch-fid |", "|---|---:|---:|---:|"]
    for row in speed:
        lines.append(f"| {row['size']}x{row['size']} | {row['advlab']:.1f} | {row['pytorch-fid']:.1f} | "
                     f"{row['advlab'] / row['pytorch-fid']:.3f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="random images per size (default 8)")
    parser.add_argument("--sizes", default="8,64,299", help="image sizes, comma-separated (default 8,64,299)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per size (default 5; 0 skips timing)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--pin", default="auto", help="CPUs to pin to: auto, none, or numbers such as 1 or 2,3")
    parser.add_argument("--float64", action="store_true", help="compare in float64 too (rounding check)")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every float32 row passes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes takes integers such as 8,64,299; got {args.sizes!r}")
    if args.images < 1 or args.threads < 1 or args.rounds < 0 or not args.size_list or min(args.size_list) < 1:
        parser.error("--images, --threads and every size must be >= 1, --rounds >= 0")
    args.cpus = pinned_cpus(args.pin, args.threads, parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python bench/inception_vs_pytorch_fid.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    torchvision, fid = import_peers()
    load_fid_inception = import_advlab()
    torch.set_num_threads(args.threads)
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    started, load = time.perf_counter(), "/".join(f"{x:.2f}" for x in os.getloadavg())
    net = pytorch_fid_network(torchvision, fid)
    state = random_state(net, args.seed)
    net.load_state_dict(state)
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(net.state_dict(), Path(tmp) / "pt_inception-random.pth")
        ours = load_fid_inception(Path(tmp) / "pt_inception-random.pth")
    sides = {"advlab": ours, "net": net, "wrapper": pytorch_fid_wrapper(fid, net)}
    agreement = compare(sides, args.size_list, args.images, args.seed, torch.float32)
    if args.float64:
        sides = {name: side.double() for name, side in sides.items()}
        agreement += compare(sides, args.size_list, args.images, args.seed, torch.float64)
        sides = {name: side.float() for name, side in sides.items()}
    control_row = control(torchvision, state, sides["wrapper"], max(args.size_list), args.images, args.seed)
    speed = timing(sides, args.size_list, args.images, args.rounds, args.seed) if args.rounds else []
    from pytorch_fid import __version__ as fid_version

    info = {"load": load, "load_end": "/".join(f"{x:.2f}" for x in os.getloadavg()),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seconds": time.perf_counter() - started, "keys": len(net.state_dict()),
            "versions": f"torch {torch.__version__}, torchvision {torchvision.__version__}, pytorch-fid {fid_version}"}
    text = render(agreement, control_row, speed, info, args, command)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    failed = [row for row in agreement if row["dtype"] == "float32" and verdict(row) == "FAIL"]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
