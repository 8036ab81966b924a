"""``--system`` values (nemesis/system.py): checked before any run starts,
each refusal saying what is accepted; a system's faults that cannot apply
are named, never silently dropped."""

from __future__ import annotations

import sys

import pytest

from nemesis.errors import BadInput
from nemesis.system import SystemSpecError, parse


def test_the_default_is_the_reference_engine():
    assert parse(None).kind == parse("persist").kind == "persist"
    assert parse("persist").refused(["kill", "lose-unsynced", "failpoint"], "tracer") == []


def test_an_exec_command_keeps_its_placeholders_until_the_worker_fills_them():
    s = parse(f"exec:{sys.executable} examples/persist_server.py --dir {{data_dir}} --role={{role}}")
    assert s.kind == "exec" and s.argv[0] == sys.executable
    assert s.command("/d", "file:///d", "writer")[1:] == ["examples/persist_server.py", "--dir", "/d",
                                                         "--role=writer"]


@pytest.mark.parametrize("text,msg", [
    ("exec:", "needs a command"),
    ("exec:no-such-binary-here {data_dir}", "not an executable found on PATH"),
    ("exec:/no/such/file", "does not exist"),
    (f"exec:{sys.executable} {{datadir}}", "unknown placeholder {datadir}"),
    (f"exec:{sys.executable} 'open", "cannot split"),
    ("nosuchmodule_xyz:Engine", "no module 'nosuchmodule_xyz'"),
    ("sqlite", "accepted: persist"),
])
def test_a_bad_system_is_refused_saying_what_is_accepted(text, msg):
    with pytest.raises(SystemSpecError) as e:
        parse(text)
    assert isinstance(e.value, BadInput) and e.value.param == "--system" and msg in str(e.value)


def test_faults_that_cannot_reach_another_process_are_named():
    s = parse(f"exec:{sys.executable} server.py {{data_dir}}")
    assert s.refused(["kill", "pause"], "tracer") == []
    assert s.refused(["kill", "lose-unsynced"], "faultfs") == []  # the fault filesystem sees every process
    (why,) = s.refused(["lose-unsynced"], "tracer")
    assert "--fs fuse" in why
    assert parse("json:JSONDecoder").kind == "class"
