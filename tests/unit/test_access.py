import time

from queueapp import access


def test_a_page_token_is_tied_to_its_session_and_does_not_reveal_it(settings):
    token = access.socket_token("k" * 32)
    assert "k" * 8 not in token
    assert access.token_matches_session(token, "k" * 32)
    assert not access.token_matches_session(token, "j" * 32)
    assert not access.token_matches_session(token + "0", "k" * 32)
    assert not access.token_matches_session(token, None)
    for junk in ("", ":", "²:abc", "9" * 40 + ":abc", "nonsense"):
        assert not access.token_matches_session(junk, "k" * 32)


def test_a_page_token_expires(settings, monkeypatch):
    token = access.socket_token("k" * 32)
    later = time.time() + settings.LINEUP_SOCKET_TOKEN_SECONDS + 1
    monkeypatch.setattr(access.time, "time", lambda: later)
    assert not access.token_matches_session(token, "k" * 32)
