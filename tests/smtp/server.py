#!/usr/bin/env python3
"""A real SMTP server for cutover's tests (aiosmtpd), on loopback.

Every accepted message is appended to --log as one JSON line: envelope sender, envelope
recipients, and the raw message. Failure behaviours for the delivery tests:
  --fail-first N --fail-code C   answer the first N DATA commands with C (e.g. 421, 451)
  --reject ADDR                  answer RCPT TO:<ADDR> with 550 (repeatable)
  --delay-ms MS                  record each message, then wait MS before the 250 reply (so a
                                 client killed in between has delivered without knowing it)
  --auth USER:PASS               require SMTP AUTH (PLAIN/LOGIN, no TLS) with these credentials
It prints READY <port> on stdout once it listens, and stops on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import json
import signal
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Recorder:
    def __init__(self, args):
        self.args = args
        self.data_seen = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.args.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_seen += 1
        if self.data_seen <= self.args.fail_first:
            return "%d 4.3.0 try again later (test %d)" % (self.args.fail_code, self.data_seen)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        with open(self.args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
        # Accepted and recorded; the reply comes late. A client killed now never learns the
        # message went through: the one window for a duplicate.
        if self.args.delay_ms:
            await asyncio.sleep(self.args.delay_ms / 1000)
        return "250 2.0.0 queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-code", type=int, default=451)
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--auth", default=None)
    args = p.parse_args()
    args.reject = [a.lower() for a in args.reject]
    options = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        options = dict(auth_required=True, auth_require_tls=False, authenticator=authenticator)
    controller = Controller(Recorder(args), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("READY %d" % args.port, flush=True)
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(True))
    loop.run_until_complete(stop)
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
