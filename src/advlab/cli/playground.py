"""`advlab playground`: serve the playground (GAN page, attack page, audio tab, backdoor lab) on this machine and print
its address.

It binds 127.0.0.1 unless --host names another address; only then can other machines reach it (it has no
login), and it says so. --port 0 takes any free port. The attack page may read classifier runs, and the audio
tab speech model runs (and their held-out utterances, when their data folder lies there too), from the directories
given with --runs, and nothing else.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

import torch

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.playground.sessions import PlaygroundLimits

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
LOOPBACK_NAMES = ["127.0.0.1", "localhost"]
DEFAULTS = PlaygroundLimits()


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "playground",
        help="serve the playground in your browser: a GAN learning live, attacks on digits and on speech, a backdoor "
             "planted and found",
        description="Serve the playground: the GAN page (a 2-D GAN training live, after GAN Lab) and the attack "
                    "page (FGSM, BIM, PGD, CW, Square on a digit) and its audio tab (Carlini & Wagner's targeted "
                    "attack on a speech model run: listen to the clean, adversarial and perturbation audio), "
                    "and the backdoor lab (draw a trigger or pick BadNets/blended, watch a digits CNN learn the "
                    "backdoor live, then its attack success and Neural Cleanse's reversed trigger per class), "
                    "driven by advlab's own trainers and attacks. "
                    "Prints the address to open. Ctrl+C stops it.")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default %(default)s: this machine only; another address, "
                             "such as 0.0.0.0, lets other machines in, without a login)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s; 0: any free one)")
    parser.add_argument("--runs", nargs="+", default=[], metavar="DIR",
                        help="directories holding classifier runs the attack page may attack and speech model runs "
                             "(advlab audio train) the audio tab may attack (and read nothing else)")
    parser.add_argument("--max-sessions", type=int, default=DEFAULTS.max_sessions,
                        help="GAN pages open at once (default %(default)s)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULTS.idle_timeout,
                        help="seconds a page may stay silent before its session closes (default %(default)g)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default %(default)s: the playground's networks are small, sessions "
                             "run side by side)")
    parser.add_argument("--no-warm", action="store_true",
                        help="do not prepare the built-in digits classifier at startup (it is then trained or "
                             "loaded on the first attack)")
    parser.set_defaults(handler=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 lets the system pick a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as error:
        raise AdvlabError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(app, limits: PlaygroundLimits):
    """A uvicorn server for `app`; start it with ``server.run(sockets=[sock])``."""
    import uvicorn

    config = uvicorn.Config(app, ws_max_size=limits.max_message_bytes, log_level="warning", lifespan="on")
    return uvicorn.Server(config)


def run(args: argparse.Namespace) -> int:
    from advlab.playground.app import create_app

    port = check_int("--port", args.port, 0)
    if port > 65535:
        raise AdvlabError(f"--port must lie in 0..65535, got {port}")
    torch.set_num_threads(check_int("--threads", args.threads, 1))
    limits = PlaygroundLimits(max_sessions=check_int("--max-sessions", args.max_sessions, 1),
                              idle_timeout=check_number("--idle-timeout", args.idle_timeout, 0, strict=True))
    loopback = is_loopback(args.host)
    hosts = LOOPBACK_NAMES if loopback and ":" not in args.host else None
    app = create_app(args.runs, limits, allowed_hosts=hosts, warm=not args.no_warm)
    sock = listen(args.host, port)
    print(f"advlab playground: serving {address(sock)}  (Ctrl+C stops it)", flush=True)
    if not loopback:
        print(f"advlab: warning: listening on {args.host}: other machines can reach the playground, without a login",
              file=sys.stderr)
    make_server(app, limits).run(sockets=[sock])
    return 0


__all__ = ["add_parser", "is_loopback", "listen", "make_server", "run"]
