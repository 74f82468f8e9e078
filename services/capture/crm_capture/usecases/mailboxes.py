"""Mailboxes users connect for IMAP polling: added with the password encrypted (the secret
box), listed without it, removed by disabling them and wiping it; and the poller's
bookkeeping (where a folder was read to, what went wrong)."""

from __future__ import annotations

from crm_kit.errors import BadUserInput, Forbidden, NotFound
from crm_kit.ids import new_id

from ..domain import rules
from ..domain.imap_account import ImapAccount, Security
from .inputs import ImapAccountInput
from .scope import Scope

# Plain-text IMAP only to a server on this host: a password never crosses a network
# unencrypted.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_ACCOUNTS_PER_USER = 10


async def add_account(scope: Scope, data: ImapAccountInput) -> ImapAccount:
    scope.require_write()
    if not scope.acts_for_user:
        raise Forbidden("a mailbox belongs to a user")
    host = rules.normalise_host(data.host, "input.host")
    if data.security == Security.NONE and host not in LOOPBACK:
        raise BadUserInput("unencrypted IMAP only to this host; use SSL", field="input.security")
    port = data.port or (993 if data.security == Security.SSL else 143)
    rules.bounded_int(port, "input.port", 1, 65535)
    username = rules.clean_text(data.username, "input.username", required=True)
    folder = rules.clean_text(data.folder, "input.folder", required=True)
    if not data.password or len(data.password) > 1000:
        raise BadUserInput("must be 1 to 1000 characters", field="input.password")
    if len(await scope.store.list_imap_accounts(scope.subject)) >= MAX_ACCOUNTS_PER_USER:
        raise BadUserInput(f"at most {MAX_ACCOUNTS_PER_USER} mailboxes per user", field="input")
    account = ImapAccount(
        id=new_id(),
        workspace_id=scope.workspace_id,
        user_id=scope.subject,
        host=host,
        port=port,
        security=data.security,
        username=username,
        secret=scope.secrets.encrypt(data.password),
        folder=folder,
        created_at=scope.now(),
    )
    await scope.store.add_imap_account(account)
    return account


async def my_accounts(scope: Scope) -> list[ImapAccount]:
    return await scope.store.list_imap_accounts(scope.subject)


async def remove_account(scope: Scope, account_id: str) -> ImapAccount:
    """Stop polling it and forget its password (its bookkeeping stays: re-adding the same
    mailbox starts a new account, and capture is idempotent by Message-ID anyway)."""
    scope.require_write()
    found = await scope.store.get_imap_accounts([account_id])
    if not found or (found[0].user_id != scope.subject and not scope.caller.has_role("admin")):
        raise NotFound(f"no mailbox {account_id}", field="id")

    async def disable(account: ImapAccount) -> bool:
        account.enabled, account.secret = False, ""
        return True

    changed = await scope.store.change_imap_account(account_id, disable)
    assert changed is not None
    return changed


async def password_of(scope: Scope, account: ImapAccount) -> str:
    return scope.secrets.decrypt(account.secret)


async def start_folder(scope: Scope, account_id: str, uid_validity: int) -> ImapAccount | None:
    async def start(account: ImapAccount) -> bool:
        return account.start_folder(uid_validity)

    return await scope.store.change_imap_account(account_id, start)


async def advanced(scope: Scope, account_id: str, uid: int) -> None:
    """The message with `uid` is captured: a restart resumes after it."""

    async def advance(account: ImapAccount) -> bool:
        return account.advanced(uid)

    await scope.store.change_imap_account(account_id, advance)


async def claim_poll(scope: Scope, account_id: str, period: int) -> bool:
    """True for the one replica that polls this mailbox in this period."""
    return await scope.store.take_poll_lease(f"imap:{account_id}:{period}")


async def polled(scope: Scope, account_id: str, error: str | None, fetched: int) -> None:
    at = scope.now()

    async def note(account: ImapAccount) -> bool:
        account.polled(at, error[:500] if error else None, fetched)
        return True

    await scope.store.change_imap_account(account_id, note)
