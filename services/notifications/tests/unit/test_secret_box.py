"""Webhook signing secrets are sealed at rest, opened with any listed key, and resealed
under the newest one."""

from __future__ import annotations

import pytest

from trellis.notifications.webhooks.secret_box import PREFIX, SecretBox, UnreadableSecret

OLD, NEW = "old-" + "a" * 40, "new-" + "b" * 40


def test_a_sealed_secret_reveals_nothing_and_opens_again() -> None:
    box = SecretBox([OLD])
    sealed = box.seal("whsec_c2VjcmV0")
    assert sealed.startswith(PREFIX) and "whsec" not in sealed and "c2VjcmV0" not in sealed
    assert box.open(sealed) == "whsec_c2VjcmV0" and box.current(sealed)
    assert box.seal("whsec_c2VjcmV0") != sealed  # a fresh IV each time


def test_rotation_reads_both_keys_and_seals_under_the_first() -> None:
    sealed_old = SecretBox([OLD]).seal("s1")
    both = SecretBox.from_setting(f"{NEW}, {OLD}")
    assert both.open(sealed_old) == "s1" and not both.current(sealed_old)
    assert both.current(both.seal("s2"))
    with pytest.raises(UnreadableSecret):  # the old key dropped before the secret was resealed
        SecretBox([NEW]).open(sealed_old)


def test_a_secret_stored_before_sealing_is_read_as_it_is_and_not_current() -> None:
    box = SecretBox([OLD])
    assert box.open("whsec_legacy") == "whsec_legacy" and not box.current("whsec_legacy")
