"""A real IMAP server for the tests: Debian's Dovecot (`dovecot-imapd`, installed by
`make test` when missing), started on a free port with a configuration of the test's own,
one user with a password, mail under a temporary directory. Messages are put in with IMAP
APPEND, as a mail client would."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from crm_kit.devstack import free_port, spawn, wait_for_port

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_internal_user = {internal}
default_login_user = {login}
default_internal_group = {group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    assert found, "Dovecot is missing: `make test` installs dovecot-imapd (apt-get) when it can"
    return found


@dataclass
class Dovecot:
    root: Path
    port: int
    user: str
    password: str
    process: subprocess.Popen

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            status, _ = client.append(folder, None, None, raw)
            assert status == "OK"
        finally:
            client.logout()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if not os.environ.get("CRM_KEEP_TEST_DATA"):
            shutil.rmtree(self.root, ignore_errors=True)


def start_dovecot(user: str = "rita@ourco.example", password: str = "s3cret-imap") -> Dovecot:
    """In a directory of its own under the system's temporary directory (readable by the
    mail user). As root, mail belongs to `nobody` and Dovecot's own users run its services;
    as any other user everything runs as that user."""
    root = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        mail = pwd.getpwnam("nobody")
        uid, gid = mail.pw_uid, mail.pw_gid
        internal, login, group = "dovecot", "dovenull", "dovecot"
        os.chown(root / "mail", uid, gid)
    else:
        me = pwd.getpwuid(os.geteuid())
        uid, gid = me.pw_uid, me.pw_gid
        internal = login = me.pw_name
        group = me.pw_name
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root, port=port, uid=uid, gid=gid, internal=internal, login=login, group=group
        )
    )
    process = spawn([dovecot_binary(), "-F", "-c", str(config)], root / "stdout.log")
    wait_for_port(port, 20.0, process)
    deadline = time.monotonic() + 10
    while True:  # the listener may open before authentication is ready
        try:
            Dovecot(root, port, user, password, process).client().logout()
            break
        except (imaplib.IMAP4.error, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return Dovecot(root, port, user, password, process)
