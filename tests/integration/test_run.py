"""`gantry run REF [-- CMD]`: the image's process in a container of its own,
on overlayfs over the store's snapshots. Real images from the test bed (the
machine's static busybox, and a dynamically linked program with its loader,
libc and /etc/ld.so.cache); each test checks what the process saw and
printed, and gantry's exit status."""

from __future__ import annotations

import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gantry_testbed import images, trees
from gantry_testbed.gantry_cli import Gantry
from gantry_testbed.layers import build_layer
from gantry_testbed.processes import running
from gantry_testbed.tarwriter import Entry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402

pytestmark = pytest.mark.root("gantry run needs root")

PASSWD = trees.PASSWD + b"app:x:1000:1000:App:/home/app:/bin/sh\n"
GROUP = trees.GROUP + b"app:x:1000:\nextra:x:3000:app\n"


def busybox_entries() -> list[Entry]:
    entries = [e for e in trees.busybox_entries() if e.path not in ("etc/passwd", "etc/group")]
    return entries + [Entry("etc/passwd", data=PASSWD), Entry("etc/group", data=GROUP)]


def dynamic_entries(program: str = "/usr/bin/env") -> list[Entry]:
    """A dynamically linked program of this machine with what the loader
    needs: its libraries (by their real files), the loader and ld.so.cache."""
    files = {program, "/etc/ld.so.cache"}
    for line in subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout.splitlines():
        for path in re.findall(r"(/\S+)", line):
            files.add(path)
    entries, dirs = [], set()
    for path in sorted(files):
        real = os.path.realpath(path)
        for name in (path, real):
            parent = os.path.dirname(name).lstrip("/")
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        entries.append(Entry(real.lstrip("/"), data=Path(real).read_bytes(), mode=0o755))
        if real != path:
            entries.append(Entry(path.lstrip("/"), "symlink", linkname=real))
    return [Entry(d, "dir") for d in sorted(dirs)] + entries


@pytest.fixture(scope="module")
def image_ref(registry_plain):
    config = images.ImageConfig(cmd=("sh", "-c", "echo $FOO pid=$$ cwd=$(pwd) id=$(id -u):$(id -g) "
                                                 "groups=$(id -G) host=$(hostname) home=$HOME"),
                                env=(images.DEFAULT_PATH, "FOO=bar"), user="app", working_dir="/work/dir")
    image = images.build_image([build_layer(busybox_entries())], config=config)
    repo = f"it/run-{secrets.token_hex(4)}"
    registry_plain.client.push_image(repo, image, tag="v1")
    return registry_plain.ref(repo, "v1"), image


def run(gantry, ref, *args, stdin=subprocess.DEVNULL, input=None, options=()):
    argv = gantry.argv("run", "--plain-http", "--quiet", *options, ref, *(("--", *args) if args else ()))
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=gantry.env,
                          stdin=None if input is not None else stdin, input=input)


def test_the_images_process_runs_as_pid_1(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ("bar pid=1 cwd=/work/dir id=1000:1000 groups=1000 3000 host=gantry "
                             "home=/home/app\n")


def test_exit_status_and_stdout_stderr_separation(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "sh", "-c", "echo out; echo err >&2; exit 42")
    assert (result.returncode, result.stdout, result.stderr) == (42, "out\n", "err\n")


def test_the_command_follows_the_image_as_with_docker_run(gantry, image_ref):
    ref, _ = image_ref
    argv = gantry.argv("run", "--plain-http", "--quiet", "--rm", "-ie", "FOO=x", ref, "sh", "-c",
                       "echo $FOO \"$@\"; exit 3", "sh", "-l", "--quiet", "--", "--help")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=gantry.env, input="")
    assert (result.returncode, result.stdout, result.stderr) == (3, "x -l --quiet -- --help\n", "")
    # ls -l: its option is the command's, not gantry's.
    listed = subprocess.run(gantry.argv("run", "--plain-http", "--quiet", ref, "ls", "-ld", "/work"),
                            capture_output=True, text=True, timeout=120, env=gantry.env)
    assert listed.returncode == 0 and listed.stdout.startswith("d"), listed.stderr


def test_env_files_come_before_e_as_with_docker_run(gantry, image_ref, scratch):
    ref, _ = image_ref
    env_file = scratch / "env"
    env_file.write_text("# defaults\nFOO=from file\nBAR=\"quoted\"\nBAZ=file\n")
    result = run(gantry, ref, "sh", "-c", "echo $FOO/$BAR/$BAZ",
                 options=("--env-file", str(env_file), "-e", "BAZ=cli"))
    assert (result.returncode, result.stdout, result.stderr) == (0, 'from file/"quoted"/cli\n', "")
    env_file.write_text("BAD NAME=1\n")
    bad = run(gantry, ref, "true", options=("--env-file", str(env_file)))
    assert bad.returncode == 125
    assert bad.stderr == f"gantry: error: env file line 1: variable 'BAD NAME' contains whitespace (path {env_file})\n"


def test_overrides_and_namespaces(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "sh", "-c", "echo $FOO $(id -u) $(pwd) $(hostname); ls /sys/class/net; "
                                           "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                                           "touch /sys/x 2>/dev/null || echo sys read-only; "
                                           "cat /etc/hostname; grep box /etc/hosts",
                 options=("-e", "FOO=cli", "-u", "0", "-w", "/tmp", "--hostname", "box", "--net", "none"))
    lines = result.stdout.splitlines()
    assert lines[0] == "cli 0 /tmp box", result.stderr
    assert lines[1] == "lo"
    assert lines[2].startswith("sh -c echo $FOO")
    assert lines[3] == "sys read-only"
    assert lines[4:] == ["box", "127.0.1.1\tbox"]
    assert (result.returncode, result.stderr) == (0, "")


def test_dev_is_minimal_and_works(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "sh", "-c", "ls /dev; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo ok")
    names = result.stdout.split()
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "fd", "stdin", "ptmx"):
        assert name in names
    assert names[-2:] == ["4", "ok"]
    assert "sda" not in " ".join(names)


def test_stdin_is_dev_null_unless_interactive(gantry, image_ref):
    ref, _ = image_ref
    assert run(gantry, ref, "cat", input="ignored\n").stdout == ""
    assert run(gantry, ref, "cat", input="piped\n", options=("-i",)).stdout == "piped\n"


def test_writes_are_isolated_and_snapshots_stay_unchanged(gantry, image_ref):
    ref, image = image_ref
    first = run(gantry, ref, "sh", "-c", "echo new > /etc/new; rm /etc/group; rm -r /bin/cat; echo done")
    assert first.stdout == "done\n", first.stderr
    [snapshot] = (gantry.store / "snapshots" / "sha256").iterdir()
    before = tree_print.tree_text(snapshot)

    second = run(gantry, ref, "sh", "-c", "ls /etc; cat /etc/group | head -n 1")

    assert second.stdout.split() == ["group", "hostname", "hosts", "passwd", "resolv.conf", "root:x:0:"]
    assert tree_print.tree_text(snapshot) == before
    assert list((gantry.store / "containers").iterdir()) == []  # removed at exit


def test_second_run_unpacks_nothing_and_asks_no_registry(gantry, image_ref, registry_plain, fault_proxy):
    ref, image = image_ref
    proxy = fault_proxy(registry_plain)
    ref = proxy.ref(*ref.split("/", 1)[1].rsplit(":", 1))
    first = run(gantry, ref, "true", options=("--timing",))
    assert "1 of 1 layers unpacked" in first.stderr
    proxy.clear_log()

    second = run(gantry, ref, "true", options=("--timing",))

    assert "0 of 1 layers unpacked, 0 bytes fetched" in second.stderr
    assert proxy.requests() == []  # --pull missing, the default
    run(gantry, ref, "true", options=("--pull", "always"))
    assert [r.method for r in proxy.requests(path="/manifests/")] in (["HEAD"], ["GET"])


def test_pull_never_needs_the_image_in_the_store(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "true", options=("--pull", "never"))
    assert result.returncode != 0
    assert result.stderr.startswith("gantry: error: the image is not in the store")
    assert len(result.stderr.splitlines()) == 1


def test_keep_keeps_the_containers_writes(gantry, image_ref):
    ref, _ = image_ref
    run(gantry, ref, "sh", "-c", "echo kept > /root/file", options=("--keep", "-u", "0"))
    [container] = (gantry.store / "containers").iterdir()
    assert (container / "upper" / "root" / "file").read_text() == "kept\n"


@pytest.mark.parametrize("keep", [False, True], ids=["rm", "keep"])
def test_an_upper_that_goes_at_exit_is_volatile_a_kept_one_is_not(gantry, image_ref, keep):
    """overlayfs syncs its upper's filesystem (the store's, with the snapshots
    just written) at unmount unless "volatile": a container whose writes go
    at exit need not wait for that; a kept one's writes must survive."""
    ref, _ = image_ref
    result = run(gantry, ref, "cat", "/proc/self/mountinfo", options=("--keep",) if keep else ())
    assert result.returncode == 0, result.stderr
    # mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER_OPTIONS
    [root] = [line.split(" - ")[1].split() for line in result.stdout.splitlines() if line.split()[4] == "/"]
    assert root[0] == "overlay"
    shown = set(root[2].split(","))  # "volatile", or "fsync=volatile" since Linux 6.6
    assert bool(shown & {"volatile", "fsync=volatile"}) == (not keep), root


def test_flattened_copy_without_overlayfs(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "sh", "-c", "echo $FOO; ls /bin/busybox", options=("--no-overlay",))
    assert (result.returncode, result.stdout) == (0, "bar\n/bin/busybox\n"), result.stderr


@pytest.mark.parametrize("init", [(), ("--init",)], ids=["", "init"])
@pytest.mark.parametrize("args,status,message", [
    (("nope",), 127, 'exec: "nope": executable file not found in $PATH'),
    (("/bin/nope",), 127, 'exec: "/bin/nope": no such file or directory'),
    (("/etc/passwd",), 126, 'exec: "/etc/passwd": Permission denied'),
])
def test_commands_that_cannot_run(gantry, image_ref, args, status, message, init):
    """The same report whether gantry's child or gantry-init (--init) tried."""
    ref, _ = image_ref
    result = run(gantry, ref, *args, options=init)
    assert (result.returncode, result.stdout, result.stderr) == (status, "", f"gantry: error: {message}\n")


def test_unknown_user(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "true", options=("-u", "ghost"))
    assert result.returncode == 126
    assert result.stderr == "gantry: error: unable to find user ghost: no matching entries in passwd file\n"


def _container_pid(gantry_pid: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{gantry_pid}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise AssertionError("gantry started no container process")


def test_signals_are_forwarded_and_death_by_signal_is_128_plus_n(gantry, image_ref):
    ref, _ = image_ref
    script = "trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.1; done"
    argv = gantry.argv("run", "--plain-http", "--quiet", ref, "--", "sh", "-c", script)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gantry.env)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (3, "got USR1\n"), err

    proc = subprocess.Popen(gantry.argv("run", "--plain-http", "--quiet", ref, "--", "sleep", "100"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gantry.env)
    os.kill(_container_pid(proc.pid), signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL


def test_a_dynamically_linked_program_runs(gantry, registry_plain, repo):
    image = images.build_image([build_layer(dynamic_entries())],
                               config=images.ImageConfig(cmd=("/usr/bin/env",), env=("GREETING=hello",)))
    registry_plain.client.push_image(repo, image, tag="v1")

    result = run(gantry, registry_plain.ref(repo, "v1"))

    assert result.returncode == 0, result.stderr
    assert "GREETING=hello" in result.stdout.splitlines()
    assert "HOSTNAME=gantry" in result.stdout.splitlines()


def test_falls_back_to_a_flattened_copy_where_overlayfs_cannot_stack(gantry_bin, image_ref, scratch):
    """A store on overlayfs itself: overlayfs refuses an upper dir there."""
    ref, _ = image_ref
    for name in ("lower", "upper", "work", "mnt"):
        (scratch / name).mkdir()
    option = f"lowerdir={scratch}/lower,upperdir={scratch}/upper,workdir={scratch}/work"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", option, str(scratch / "mnt")], check=True)
    try:
        gantry = Gantry(gantry_bin, scratch / "mnt" / "store", scratch / "home")
        result = run(gantry, ref, "sh", "-c", "echo $FOO")
        assert (result.returncode, result.stdout) == (0, "bar\n"), result.stderr
        assert "running in a flattened copy of the image instead" in result.stderr
    finally:
        subprocess.run(["umount", str(scratch / "mnt")], check=True)


def test_init_forwards_signals_to_the_command_and_reaps(gantry, image_ref):
    """Without a handler, PID 1 ignores SIGTERM; behind --init the command
    is not PID 1 and dies of it."""
    ref, _ = image_ref
    argv = gantry.argv("run", "--plain-http", "--quiet", "--init", ref, "--",
                       "sh", "-c", "echo pid=$$; (sleep 0.1 &); exec sleep 100")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gantry.env)
    assert proc.stdout.readline() == "pid=2\n"
    time.sleep(0.3)  # the orphaned sleep has exited and been reaped
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM


def test_terminal(gantry, image_ref):
    ref, _ = image_ref
    result = run(gantry, ref, "sh", "-c", "test -t 0 && test -t 1 && echo on a tty", options=("-t",))
    # (text mode reads the terminal's \r\n as \n)
    assert (result.returncode, result.stdout) == (0, "on a tty\n"), result.stderr
    result = run(gantry, ref, "sh", "-c", "read line; echo got $line", input="typed\n", options=("-t", "-i"))
    assert result.returncode == 0, result.stderr
    assert "got typed\n" in result.stdout


def test_a_terminal_is_the_controlling_one_with_term_set(gantry, image_ref):
    ref, _ = image_ref
    result = subprocess.run(gantry.argv("run", "--plain-http", "--quiet", "-t", ref, "sh", "-c",
                                        "echo $TERM; tty; test -c /dev/console && echo console"),
                            capture_output=True, text=True, timeout=120, env={**gantry.env, "TERM": "screen"},
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    term, tty, console = result.stdout.splitlines()
    assert (term, console) == ("screen", "console")
    assert tty.startswith("/dev/"), tty


def _started(proc):
    assert proc.stdout.readline() == "ready\n", proc.stderr.read()


def test_three_interrupts_within_a_second_kill_a_container_that_ignores_them(gantry, image_ref):
    ref, _ = image_ref
    proc = subprocess.Popen(gantry.argv("run", "--plain-http", "--quiet", ref, "sh", "-c",
                                        "trap '' INT; echo ready; sleep 100"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gantry.env)
    _started(proc)
    proc.send_signal(signal.SIGINT)  # forwarded, and ignored
    time.sleep(1.5)
    assert proc.poll() is None, "one interrupt is the container's to handle"
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)  # signals sent at once would merge into one pending SIGINT; keys never come that fast
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL
    assert err == "gantry: 3 interrupts within a second: killing the container\n"


def test_three_ctrl_c_keys_on_a_raw_terminal_kill_the_container(gantry, image_ref):
    ref, _ = image_ref
    primary, secondary = os.openpty()
    try:
        proc = subprocess.Popen(gantry.argv("run", "--plain-http", "--quiet", "-it", ref, "sh", "-c",
                                            "trap '' INT; echo ready; sleep 100"),
                                stdin=secondary, stdout=secondary, stderr=subprocess.PIPE, env=gantry.env)
        output = b""
        deadline = time.monotonic() + 60
        while b"ready" not in output:
            assert time.monotonic() < deadline and proc.poll() is None, output
            if select.select([primary], [], [], 0.1)[0]:
                output += os.read(primary, 4096)
        os.write(primary, b"\x03\x03\x03")
        _, err = proc.communicate(timeout=30)
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 128 + signal.SIGKILL
    assert err == b"gantry: 3 interrupts within a second: killing the container\n"


def test_a_name_names_the_kept_container_and_no_two_containers_share_it(gantry, image_ref):
    ref, _ = image_ref
    containers = gantry.store / "containers"
    first = run(gantry, ref, "true", options=("--name", "web-1", "--keep"))
    assert (first.returncode, first.stderr) == (0, "")
    assert (containers / "web-1").is_dir()
    again = run(gantry, ref, "true", options=("--name", "web-1"))
    assert (again.returncode, again.stderr) == (
        125, f'gantry: error: the container name "web-1" is already in use by a kept container: '
             f'remove {containers / "web-1"} or choose another name\n')

    busy = subprocess.Popen(gantry.argv("run", "--plain-http", "--quiet", "--name", "busy.1", ref,
                                        "sh", "-c", "echo ready; sleep 100"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gantry.env)
    try:
        _started(busy)
        taken = run(gantry, ref, "true", options=("--name", "busy.1"))
        assert taken.returncode == 125
        assert 'the container name "busy.1" is already in use by a running container' in taken.stderr
    finally:
        busy.kill()
        busy.communicate(timeout=30)
    # Its gantry gone, the name is free again (and what it left is removed).
    assert run(gantry, ref, "true", options=("--name", "busy.1")).returncode == 0
    assert sorted(p.name for p in containers.iterdir()) == ["web-1"]

    for bad in ("x", "-x", "a b", "x/y", "web.running-1"):
        result = run(gantry, ref, "true", options=("--name", bad))
        assert result.returncode == 125, bad
        assert result.stderr.startswith(f'gantry: error: invalid container name "{bad}"'), result.stderr


def test_refused_without_root_before_any_work(gantry_bin, image_ref, scratch):
    ref, _ = image_ref
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(gantry_bin),
                             "run", "--plain-http", "--store", str(scratch / "store"), ref, "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.startswith("gantry: error: gantry run needs root")
    assert len(result.stderr.splitlines()) == 1
    assert not (scratch / "store").exists()


def test_a_killed_gantry_takes_its_container_along_and_the_next_run_cleans_up(gantry, image_ref):
    ref, _ = image_ref
    containers = gantry.store / "containers"
    run(gantry, ref, "true", options=("--keep",))
    [kept] = containers.iterdir()
    proc = subprocess.Popen(gantry.argv("run", "--plain-http", "--quiet", ref, "--", "sleep", "100"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=gantry.env)
    container_pid = _container_pid(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while running(container_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(container_pid), "the container outlived gantry"
    assert len(list(containers.iterdir())) == 2  # the killed run's is left, named with its pid
    alive = containers / f"0123456789ab.running-{os.getpid()}"  # a live process's: not touched
    alive.mkdir()

    assert run(gantry, ref, "true").returncode == 0

    assert sorted(containers.iterdir()) == sorted([kept, alive])
    alive.rmdir()
