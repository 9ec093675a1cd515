"""The zoo's messages: on stderr by themselves, through the application's logging once it has
configured some."""

from __future__ import annotations

import logging

import zoo  # noqa: F401  (sets up the "zoo" logger)


def test_messages_go_to_stderr_until_the_application_configures_logging(monkeypatch, capsys):
    log, root = logging.getLogger("zoo.data"), logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # an application that configured nothing
    log.info("read mnist")
    assert capsys.readouterr().err == "zoo: read mnist\n"

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    monkeypatch.setattr(root, "handlers", [handler])  # logging.basicConfig(...), say
    log.info("read cifar10")
    assert [r.getMessage() for r in records] == ["read cifar10"]  # once, in its own log
    assert capsys.readouterr().err == ""

    monkeypatch.setattr(root, "handlers", [])  # a handler on "zoo" alone, set up after import
    monkeypatch.setattr(logging.getLogger("zoo"), "handlers",
                        [*logging.getLogger("zoo").handlers, handler])
    log.info("read imdb")
    assert records[-1].getMessage() == "read imdb" and capsys.readouterr().err == ""
