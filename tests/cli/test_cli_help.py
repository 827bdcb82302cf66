"""What ``jaxtrain COMMAND --help`` tells a new user: every option's default."""

import argparse

import pytest

from jaxtrain.cli._main import build_parser


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def _options_with_a_default(parser: argparse.ArgumentParser):
    for action in parser._actions:
        # Flags (store_true, default False), help and options without a value to show are not
        # defaults a user needs to read; `is`, because 0 == False.
        if not action.option_strings or action.default is None or action.default is False:
            continue
        if action.default == argparse.SUPPRESS:
            continue
        yield action


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_with_a_default_shows_it(command):
    parser = _subparsers()[command]
    missing = []
    for action in _options_with_a_default(parser):
        # argparse expands %(default)s and the other fields of the action the same way.
        shown = (action.help or "") % {**vars(action), "prog": parser.prog}
        if f"default: {action.default}" not in shown:
            missing.append(f"{'/'.join(action.option_strings)} (default {action.default!r})")
    assert not missing, f"jaxtrain {command} --help hides the defaults of {missing}"


def test_hessian_help_offers_data_for_a_moved_data_file():
    # Review finding 6: a checkpoint whose data file had moved could not be analysed, and
    # `jaxtrain hessian --help` named no way to point it at the file.
    text = _subparsers()["hessian"].format_help()
    assert "--data FILE.npz" in text and "SHA-256" in text
