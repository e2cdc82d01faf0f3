"""Entry point: `gatewayctl ...`.

Most runs are `gatewayctl check FILE...` from a pre-commit hook or CI, and
click's import is a third of such a run; a command line that is exactly
check's options is read by cli/fastcheck.py without click, and everything
else (any other command, --help, a usage error) goes to the click group in
cli/group.py. Both end in the same function (checkrun.execute), so output
and exit codes are the same either way (tests/test_cli_fastcheck.py).
"""

from __future__ import annotations

import os
import sys


def __getattr__(name):
    # `from gatewayctl.cli.main import cli`: the click group, imported on use.
    if name == "cli":
        from gatewayctl.cli.group import cli

        return cli
    raise AttributeError(name)


def main(argv=None) -> None:
    from gatewayctl.cli import exitcodes

    try:
        from gatewayctl.cli.fastcheck import fast_check

        args = sys.argv[1:] if argv is None else list(argv)
        if argv is None:
            # The process's own command line (not a caller in this
            # interpreter): check may end the process without tearing the
            # interpreter down once its output is flushed.
            from gatewayctl.cli import checkrun

            checkrun.END_PROCESS = True
        fast_check(args)  # exits when it handled the command line
        if args[:2] == ["lane", "serve"]:
            from gatewayctl.cli.fastlane import fast_lane

            fast_lane(args)  # a built-in lane: exits when it handled the command line
        from gatewayctl.cli.group import cli

        # Not standalone: click's own loop turns Ctrl-C into "Aborted!" and
        # exit 1; here it is 130 (128 + SIGINT), as the shell reports it.
        rv = cli.main(args=argv, prog_name="gatewayctl", standalone_mode=False)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        sys.exit(exitcodes.INTERRUPTED)
    except Exception as exc:
        click = sys.modules.get("click")
        if click is not None and isinstance(exc, click.exceptions.Abort):
            sys.exit(exitcodes.INTERRUPTED)  # click already ended the ^C line
        if click is not None and isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        # A bug: one clear line, the traceback only on request.
        if os.environ.get("GATEWAYCTL_DEBUG"):
            # The traceback, but the same exit code: a script that tells a
            # bug (70) from findings (1) must not be fooled by debugging.
            import traceback

            traceback.print_exc()
            sys.exit(exitcodes.INTERNAL)
        sys.stderr.write(
            f"gatewayctl: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in gatewayctl; re-run with GATEWAYCTL_DEBUG=1 for a traceback.\n"
        )
        sys.stderr.flush()
        sys.exit(exitcodes.INTERNAL)
    # --help, --version and commands that return instead of exiting
    sys.exit(rv if isinstance(rv, int) else exitcodes.OK)
