"""Small builders shared by the tests."""

import torch

from advlab.core.seeding import make_generator
from advlab.data import ring8
from advlab.gan.losses import make_loss
from advlab.gan.trainer import GANTrainer
from advlab.models import MLPDiscriminator, MLPGenerator


def tiny_trainer(k: int = 1, loss: str = "nonsaturating", seed: int = 0, optimizer: str = "adam") -> GANTrainer:
    """A ring8 trainer with tiny MLPs, fast enough for unit tests."""
    torch.manual_seed(seed)
    generator, discriminator = MLPGenerator(2, 2, 16, 2), MLPDiscriminator(2, 16, 2)
    make = (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)) if optimizer == "sgd" else \
        (lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.5, 0.999)))
    return GANTrainer(generator=generator, discriminator=discriminator, loss=make_loss(loss),
                      data=ring8(), optimizer_g=make(generator.parameters()),
                      optimizer_d=make(discriminator.parameters()),
                      sampler=make_generator(seed, torch.device("cpu")), z_dim=2, batch_size=32, k=k)


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


class LabelOnly(torch.nn.Module):
    """The model's top-1 label as a one-hot vector: no scores to read (for decision-based attacks)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images):
        logits = self.model(images)
        return torch.nn.functional.one_hot(logits.argmax(1), logits.shape[1]).float()


class Float32(torch.nn.Module):
    """The model on float32 images, whatever it is handed (ART may hand it float64 arrays)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model(images.float())


class TaggedCounter(torch.nn.Module):
    """Counts the model's evaluations of each image, read from a tag in pixel (0, 0, 0).

    The tag survives only if the attack never changes a pixel the mask keeps, in any query.
    """

    def __init__(self, model: torch.nn.Module, n: int):
        super().__init__()
        self.model, self.n = model, n
        self.counts = torch.zeros(n, dtype=torch.int64)
        self.broken_tags = 0

    def forward(self, images):
        tags = images[:, 0, 0, 0].double() * (self.n + 1)
        ids = tags.round().long() - 1
        self.broken_tags += int(((tags - tags.round()).abs() > 1e-3).sum() + ((ids < 0) | (ids >= self.n)).sum())
        self.counts += torch.bincount(ids.clamp(0, self.n - 1), minlength=self.n)
        return self.model(images)


def tagged(images):
    """Images with their tags, and the mask that keeps the tag pixel."""
    n = len(images)
    images = images.clone()
    images[:, 0, 0, 0] = torch.arange(1, n + 1) / (n + 1)
    mask = torch.ones_like(images, dtype=torch.bool)
    mask[:, 0, 0, 0] = False
    return images, mask


def perturb_masked(attack, model, images, labels, mask):
    """`attack`'s own perturb (without the base class's mask guarantee) on the images, the pixels outside
    `mask` checked unchanged; the adversarial images."""
    attack.clean_logits = model(images)
    adversarial = attack.perturb(images, labels, mask)
    assert torch.equal(adversarial[~mask], images[~mask])
    return adversarial


def run_cli(argv, capsys):
    """(exit status, stdout, stderr) of `advlab argv` in-process."""
    from advlab.cli.main import main

    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *words):
    """Exit status 2 and one line on stderr that holds every word, no traceback."""
    assert status == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def assert_one_line_response(response, status: int, *words: str) -> str:
    """An HTTP answer of `status` whose {"error": ...} is one line holding every word, no traceback; the message."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def raises_one_line(call, *words):
    """`call()` raises an AdvlabError of one line holding every word; returns the message."""
    import pytest

    from advlab.core.errors import AdvlabError

    with pytest.raises(AdvlabError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def load_bench(name: str):
    """bench/NAME.py as a module, loaded once per session (registered in sys.modules, where dataclasses look)."""
    import importlib.util
    import sys
    from pathlib import Path

    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def run_bench(name: str, argv: list[str], timeout: float = 300):
    """bench/NAME.py run as a script in a subprocess (as it is meant to be run: it sets threads and CPU affinity for
    itself) with `argv`; the finished process, whose exit status must be 0 or 1 (--check's verdicts)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    done = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return done


def quick_bench_run(name: str, folder, timeout: float = 300) -> tuple:
    """bench/NAME.py --quick --check (the exit status follows the verdicts) with its runs kept in FOLDER/work and
    its page written to FOLDER/NAME.md: (the finished process, the page's text)."""
    from pathlib import Path

    out, work = Path(folder) / f"{name}.md", Path(folder) / "work"
    done = run_bench(name, ["--quick", "--check", "--no-progress", "--pin", "none", "--work", str(work), "--out",
                            str(out)], timeout)
    return done, out.read_text()


def assert_bench_refuses(name: str, argv: list[str], message: str, out, capsys) -> None:
    """bench/NAME.py's main(argv + --out OUT) stops with argparse's exit 2, says `message` on stderr and writes
    nothing to `out`."""
    import pytest

    with pytest.raises(SystemExit) as exit_:
        load_bench(name).main([*argv, "--out", str(out)])
    assert exit_.value.code == 2, argv
    assert message in capsys.readouterr().err, argv
    assert not out.exists()


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The cells of the rows of the Markdown table whose header line starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def receive(ws, timeout: float = 30.0) -> dict:
    """The next message of a test WebSocket as JSON, failing (not hanging) after `timeout` seconds."""
    import json

    import anyio

    async def within():
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(within)
    ws._raise_on_close(message)
    return json.loads(message["text"])


def badnets_digits_run(out, epochs: int = 6):
    """A tiny BadNets-poisoned classifier run (8x8 digits, SmallCNN of width 8, 5% to target 0) in `out`."""
    from advlab.core.config import from_mapping
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.security.poison_run import PoisonRunConfig, poison_run

    classifier = from_mapping(ClassifierTrainConfig, {"data": "digits", "model": "cnn", "width": 8, "epochs": epochs,
                                                      "device": "cpu", "threads": 1, "out": str(out)})
    return poison_run(PoisonRunConfig("badnets", classifier, {"target": 0, "rate": 0.05}), progress=False,
                      report=False).root


def tiny_digits_target(out, **changes):
    """A membership-inference target trained in ~1 s: a digits MLP (width 16, 2 epochs, one thread) holding out half
    its rows (898 training rows, 899 held out); `changes` override config fields. Its run directory."""
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.train_classifier import train_classifier

    values = {"out": str(out), "data": "digits", "model": "mlp", "width": 16, "epochs": 2, "test_fraction": 0.5,
              "device": "cpu", "threads": 1, **changes}
    return str(train_classifier(ClassifierTrainConfig(**values), progress=False, report=False).root)


def mnist_victim_run(out, seed: int = 0, epochs: int = 5):
    """The default MNIST victim (the CNN, one thread, on the CPU) trained into `out`; the caller's thread count is
    restored afterwards. Returns `out`."""
    from advlab.core.config import from_mapping
    from advlab.pipelines.classifier_config import ClassifierTrainConfig
    from advlab.pipelines.train_classifier import train_classifier

    config = from_mapping(ClassifierTrainConfig, {"out": str(out), "data": "mnist", "epochs": epochs, "seed": seed,
                                                  "device": "cpu", "threads": 1})
    assert config.model == "cnn"  # the default victim
    threads = torch.get_num_threads()
    try:
        train_classifier(config, progress=False, report=False)
    finally:
        torch.set_num_threads(threads)
    return out


def shared_mnist_victim_run(tmp_path_factory, seed: int = 0, epochs: int = 5):
    """The default MNIST victim (mnist_victim_run) trained once per test session and shared by the xdist workers,
    under a file lock, in the session's common temporary folder. Callers read it and never write into it."""
    import fcntl
    import os
    import shutil

    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-runs"
    folder.mkdir(exist_ok=True)
    out = folder / f"mnist-victim-seed{seed}-epochs{epochs}"
    with open(folder / f"{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then finds the finished run
        if not (out / "summary.json").is_file():
            shutil.rmtree(out, ignore_errors=True)  # a run a failed worker left half-written
            mnist_victim_run(out, seed, epochs)
    return out


def files_outside(run, folder: str = "privacy") -> dict:
    """{path: mtime} of every file of the run outside RUN/`folder`/ (what an attack on the run must not touch)."""
    from pathlib import Path

    root = Path(run)
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*")
            if path.is_file() and folder not in path.relative_to(root).parts}


def newest_checkpoint_times(runs) -> list[int]:
    """The mtime of the newest file in each run's checkpoints/ (unchanged = not retrained)."""
    from pathlib import Path

    return [max(path.stat().st_mtime_ns for path in (Path(run) / "checkpoints").iterdir()) for run in runs]


def table_number(cell: str) -> float:
    """A number as a bench page's table prints it (digits, thousands commas, an optional fraction)."""
    import re

    assert re.fullmatch(r"[\d,]+\.\d+|[\d,]+", cell), cell
    return float(cell.replace(",", ""))


def cli_classifier_run(out, argv) -> object:
    """`advlab classifier train --out OUT ARGV` through the CLI, torch's thread count restored afterwards."""
    from advlab.cli.main import main

    threads = torch.get_num_threads()
    try:
        assert main(["classifier", "train", "--out", str(out), *argv]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def serve_playground(app, limits):
    """Serve the playground `app` on a free loopback port in a daemon thread; a context manager giving its URL (the
    server stops at the end)."""
    import contextlib
    import threading
    import time

    from advlab.cli.playground import listen, make_server

    @contextlib.contextmanager
    def served():
        server = make_server(app, limits)
        sock = listen("127.0.0.1", 0)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    return served()


def chromium_browser():
    """Debian's headless Chromium (/usr/bin/chromium, --no-sandbox) through Playwright; a context manager."""
    import contextlib

    from playwright.sync_api import sync_playwright

    @contextlib.contextmanager
    def launched():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=["--no-sandbox"])
            try:
                yield browser
            finally:
                browser.close()

    return launched()


def open_playground_page(browser, url: str, tab: str | None = None, height: int = 800):
    """(context, page, JavaScript errors seen) of a fresh 1280-wide page at `url`, on the tab `#tab-TAB` if given."""
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    if tab is not None:
        page.click(f"#tab-{tab}")
    return context, page, errors
