"""What a user who clones the repository reads and runs: `make tour` keeps the
secrets it says it hides, the user-facing documents and tool texts cite
docs/PROTOCOL.md (which ships with the repository) and never notes outside it,
and README's session by hand runs when pasted into one shell.

CPython only (subprocess)."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def _clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("WMMP_")}


# -- make tour ------------------------------------------------------------------------

def test_tour_hides_the_secrets_it_says_it_hides():
    # The SECURITY_CONFIG step is labelled "secrets hidden": the passwords and
    # the base key must not show in its hex line either (nor anywhere else).
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import codec_tour as T
    finally:
        sys.path.pop(0)
    p = subprocess.run([os.path.join(VENV_BIN, "python"), os.path.join(ROOT, "tools", "codec_tour.py")],
                       capture_output=True, text=True, timeout=120, env=_clean_env(), cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "secrets hidden" in out and "Traceback" not in p.stderr
    for secret in (T.UP.encode(), T.DOWN.encode(), T.BASE_KEY, b"SessKeyAES128abc"):
        assert secret.hex() not in out.lower(), secret
        assert secret.decode() not in out, secret
    block = out.split("=== SECURITY_CONFIG", 1)[1].split("\n=== ", 1)[0]
    hex_line = block.splitlines()[1]
    assert "e0250008" + "**" * 8 in hex_line and "e0360010" + "**" * 16 in hex_line
    assert block.count("<secret, ") == 3
    assert "INTEROP" not in out and "every step encoded, decoded and verified" in out


# -- references: docs/PROTOCOL.md and the standard, not notes outside the repository -----

USER_FILES = ["README.md", "docs/CONSOLE.md", "docs/SMSC.md", "firmware/README.md",
              "tools/wmmp_tools/cli.py", "tools/wmmp_tools/jsonform.py", "tools/wmmp_tools/tagnames.py",
              "tools/wmmp_tools/tech.py", "tools/wmmp_tools/smsc.py", "tools/wmmp_tools/statedir.py",
              "tools/wmmp_tools/bearers.py", "tools/wmmp_tools/serving.py", "tools/codec_tour.py",
              "tools/report.py"] + ["boards/%s/README.md" % b for b in sorted(os.listdir(os.path.join(ROOT, "boards")))
                                    if os.path.exists(os.path.join(ROOT, "boards", b, "README.md"))]

# What a user cannot follow: the old wire-decision notes, issue and session numbers
# of the project's own history, and the sibling directory that is not in the repository.
NOT_IN_THE_REPOSITORY = re.compile(r"\bINTEROP( \d+|\.md)\b|\bissue #?\d+|\bsession \d+\b|\.\./shared|"
                                   r"\bshared/(seeds|spec)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", USER_FILES)
def test_user_files_cite_only_what_the_repository_has(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    bad = [(n + 1, line.strip()) for n, line in enumerate(text.splitlines()) if NOT_IN_THE_REPOSITORY.search(line)]
    assert bad == [], "%s cites what a clone does not have: %s" % (path, bad[:5])
    with open(os.path.join(ROOT, "docs", "PROTOCOL.md"), encoding="utf-8") as f:
        sections = set(re.findall(r"^## (\d+)\. ", f.read(), re.M))
    for n in re.findall(r"PROTOCOL\.md\]?\(?[^ )]*\)?,? (?:section )?(\d+)", text):
        assert n in sections, "%s cites docs/PROTOCOL.md %s, which has no such section" % (path, n)


def test_tool_texts_cite_docs_protocol():
    # Help and output of the tools name docs/PROTOCOL.md, never the old notes.
    env = _clean_env()
    texts = []
    for args in (["wmmp", "--help"], ["wmmp", "decode", "--help"], ["wmmp", "encode", "--help"],
                 ["wmmp-tech", "--help"], ["wmmp-smsc", "--help"]):
        p = subprocess.run([os.path.join(VENV_BIN, args[0])] + args[1:], capture_output=True, text=True,
                           timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        texts.append(p.stdout)
    assert "docs/PROTOCOL.md 3" in texts[1]
    for t in texts:
        assert not NOT_IN_THE_REPOSITORY.search(t), t
    # a dump of a message with a digest and an unassigned serial
    p = subprocess.run([os.path.join(VENV_BIN, "wmmp"), "decode", "-v",
                        "003c4d324d4d414b45520000000000000000030000080000000180000038363030303030303030303030303100"
                        "343630303031323334353637383930"], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and "docs/PROTOCOL.md 1" in p.stdout
    assert not NOT_IN_THE_REPOSITORY.search(p.stdout)


# -- README -----------------------------------------------------------------------------

def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_starts_with_make_demo_and_make_test():
    first = re.search(r"```sh\n(.*?)```", _readme(), re.S).group(1).splitlines()
    assert [line.split()[:2] for line in first[:2]] == [["make", "demo"], ["make", "test"]]


def test_readme_sources_name_the_standard_and_docs_protocol():
    text = _readme()
    line = text[text.index("Sources:"):].split("\n\n", 1)[0]
    assert "docs/PROTOCOL.md" in line and "GB/Z 41383-2022" in line and "shared" not in line


def test_readme_session_by_hand_works_when_pasted_into_one_shell():
    # Every server goes to the background and is stopped at the end; no shell
    # comment (interactive zsh would pass `#` to the command); only loopback.
    text = _readme()
    block = re.search(r"A typical session by hand.*?```sh\n(.*?)```", text, re.S).group(1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert not any("#" in line for line in lines)
    pids = {}
    for i, line in enumerate(lines):
        if re.search(r"wmmp-(smsc|term)\b|wmmp-platform serve\b", line):
            assert line.rstrip().endswith("&"), line
            m = re.fullmatch(r"(\w+)=\$!", lines[i + 1].strip())
            assert m, "the PID of %r is not kept" % line
            pids[m.group(1)] = line
    assert len(pids) == 3
    kill = lines[-1].split()
    assert kill[0] == "kill" and sorted(w.lstrip("$") for w in kill[1:]) == sorted(pids)
    assert "127.0.0.1" in block and "0.0.0.0" not in block
    # every command exists and takes the options shown
    env = _clean_env()
    for line in lines:
        words = line.split()
        if words[0].startswith(".venv/bin/"):
            cmd = [os.path.join(ROOT, words[0])] + [w for w in words[1:2] if not w.startswith("-")]
            p = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60, env=env)
            assert p.returncode == 0, (line, p.stderr)
            for opt in re.findall(r"\s(--[a-z][a-z0-9-]*)", line):
                assert opt in p.stdout, (line, opt)
