"""`tillit-phone activate` at a terminal (a pseudo-terminal: hidden prompts through getpass), the way a
tester types it: told where a demo signer's codes are, and after a wrong SMS code asked the same three
questions again, so the password typed last goes to the app, not to the shell."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import time

import pytest

from tests.daemon import tool
from tests.phone.conftest import outbox_codes
from tillit.phone.pytest_plugin import TillitPhone, TillitSigner

pytestmark = pytest.mark.integration


class Terminal:
    """One command on a pseudo-terminal: its output as the person at it sees it, and their typing."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal, as in a shell
            os.execve(argv[0], argv, env)  # noqa: S606 (the command itself, as a shell would start it)
        self.seen = ""

    def expect(self, marker: str, timeout: float = 30) -> str:
        """Everything shown so far, once `marker` has appeared after what was expected before."""
        start = len(self.seen)
        deadline = time.monotonic() + timeout
        while marker not in self.seen[start:]:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, remaining))
            if not ready:
                raise AssertionError(f"no {marker!r} within {timeout} s; the terminal shows:\n{self.seen}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the command has exited
                chunk = b""
            if not chunk:
                raise AssertionError(f"the command ended before {marker!r}; the terminal shows:\n{self.seen}")
            self.seen += chunk.decode(errors="replace")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.fd, f"{line}\n".encode())

    def exit_code(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with_output = select.select([self.fd], [], [], 0.1)[0]
            if with_output:
                with contextlib.suppress(OSError):  # the command has exited
                    self.seen += os.read(self.fd, 4096).decode(errors="replace")
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"still running after {timeout} s; the terminal shows:\n{self.seen}")


def test_a_wrong_sms_code_at_a_terminal_asks_the_whole_round_again(kit: TillitSigner) -> None:
    customer = kit.enrol(name="Nils Berg")
    argv = [tool("tillit-phone"), "--profile", "nils-tty", "activate", "--server", kit.url]
    argv += ["--personal-number", customer.personal_number, "--method", "sms-email"]
    terminal = Terminal(argv, {**kit.home.env, "TILLIT_PHONE_PIN": "2580"})

    before = terminal.expect("SMS code: ")
    assert "`tillit-signer outbox list`" in before, "the tester is told where the demo's codes are"
    sms, email = outbox_codes(kit.home, customer.mobile, customer.email)
    wrong = f"{(int(sms) + 1) % 10**6:06d}"
    terminal.type(wrong)
    terminal.expect("E-mail code: ")
    terminal.type(email)
    terminal.expect("BankID password: ")
    terminal.type(customer.password)

    after = terminal.expect("SMS code: ")
    assert "the SMS code or the e-mail code is wrong" in after and "4 attempts left" in after
    terminal.type(sms)
    terminal.expect("E-mail code: ")
    terminal.type(email)
    terminal.expect("BankID password: ")  # asked again: it is not left for the shell
    terminal.type(customer.password)
    terminal.expect("BankID is activated on this phone for Nils Berg")
    assert terminal.exit_code() == 0, terminal.seen
    for secret in (sms, email, wrong, customer.password):
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", terminal.seen), "never echoed"
    assert TillitPhone(kit.home, "nils-tty").status()["activated"]
