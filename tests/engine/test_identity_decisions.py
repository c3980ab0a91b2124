"""Identity decisions that must not be silent (issue 12 §6), on the demo organisation through the
same calls the CLI makes."""

from __future__ import annotations

from sqlalchemy import select

from engine.services import Services
from engine.store.models import Account, Person


def owners(services: Services, email: str) -> dict[str, int | None]:
    with services.db.session() as session:
        rows = session.scalars(select(Account).where(Account.email == email)).all()
        return {f"{a.app_id}:{a.external_id}": a.owner_id for a in rows}


def test_an_account_linked_by_hand_lends_no_merge_keys(demo: Services) -> None:
    # Linking John's IdP account to Ann by hand (a shared or misfiled account) must not make
    # John's address one of Ann's emails: that would make John's other accounts ambiguous and
    # unlink them from him.
    john = demo.user_by_email("john.bjork@example.com")
    before = owners(demo, "john.bjork@example.com")
    idp = next(key for key in before if key.startswith("idp:"))
    demo.set_link(idp, "ann.lee@example.com")
    result = demo.sync()
    assert result.exit_code == 0
    with demo.db.session() as session:
        ann = session.scalars(select(Person).where(Person.email == "ann.lee@example.com")).one()
        assert "john.bjork@example.com" not in ann.emails
    after = owners(demo, "john.bjork@example.com")
    assert after.pop(idp) == ann.id  # the hand-made link holds
    assert all(after[key] == john.id for key in after), after  # John keeps the rest
