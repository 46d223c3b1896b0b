"""Sound cards without a sound card, for tests/integration/capture_*.py
(TESTBED.md §4).

- alsa_file_env(): a HOME whose .asoundrc makes ALSA's default capture
  device a `file` plugin reading a raw s16le 16 kHz mono file. Exact, but
  unpaced: the null slave has no clock, so the "device" delivers as fast as
  it is read, and past the end of the file it repeats stale data.
- Pulse: a private PulseAudio daemon with a 16 kHz mono null sink. Whatever
  is played into the sink (play()) comes out of its monitor source in real
  time; capture clients get client_env() (PULSE_SOURCE=vsink.monitor), and
  ALSA's default device routes to PulseAudio while it runs.
- raw_of(): the PCM of a 16 kHz mono WAV, optionally padded with silence.
"""

import os
import signal
import subprocess
import time
import wave

import awtest

SINK = "vsink"


def raw_of(wav, name, pad_s=0.0):
    """Write the samples of wav (16 kHz mono s16) plus pad_s of digital
    silence as headerless s16le to NAME.raw in the scratch dir."""
    path = os.path.join(awtest.tmpdir(), f"{name}.raw")
    with wave.open(wav, "rb") as r:
        if (r.getframerate(), r.getnchannels(), r.getsampwidth()) != (16000, 1, 2):
            awtest.fail(f"{wav}: not 16 kHz mono s16")
        pcm = r.readframes(r.getnframes())
    with open(path, "wb") as f:
        f.write(pcm + b"\0\0" * int(pad_s * 16000))
    return path


def _no_pulse_dirs(d):
    """An empty XDG_RUNTIME_DIR, so no PulseAudio of another test is found."""
    run = os.path.join(d, "run")
    os.makedirs(run, mode=0o700, exist_ok=True)
    return run


def alsa_file_env(raw, name="alsa"):
    """Environment (for awconn.airwave_env) whose ALSA default capture device
    is a file plugin reading raw: TESTBED.md §4.1."""
    d = os.path.join(awtest.tmpdir(), name)
    home = os.path.join(d, "home")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, ".asoundrc"), "w", encoding="utf-8") as f:
        f.write(f"""pcm.filecap {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
pcm.!default filecap
""")
    return {"HOME": home, "XDG_RUNTIME_DIR": _no_pulse_dirs(d)}


def no_device_env(name="nodev"):
    """Environment with no .asoundrc and no sound server: no capture device
    at all on a machine without /dev/snd."""
    d = os.path.join(awtest.tmpdir(), name)
    home = os.path.join(d, "home")
    os.makedirs(home, exist_ok=True)
    return {"HOME": home, "XDG_RUNTIME_DIR": _no_pulse_dirs(d)}


class Pulse:
    """A private pulseaudio with one null sink (TESTBED.md §4.2), killed when
    the test exits. start() waits until it answers; kill() is a sound server
    (a device) vanishing; start() again brings it back in the same place."""

    def __init__(self, name="pulse"):
        awtest.require_tools("pulseaudio", "pactl", "paplay")
        self.dir = os.path.join(awtest.tmpdir(), name)
        self.run = os.path.join(self.dir, "run")
        self.home = os.path.join(self.dir, "home")  # no .asoundrc here
        os.makedirs(self.run, mode=0o700, exist_ok=True)
        os.makedirs(self.home, exist_ok=True)
        # Clients must never start a daemon of their own (a default one
        # would have no vsink): root never autospawns, other users might.
        self.client_conf = os.path.join(self.dir, "client.conf")
        with open(self.client_conf, "w", encoding="utf-8") as f:
            f.write("autospawn = no\n")
        self.proc = None
        self.starts = 0

    def env(self):
        """What every client of this daemon needs."""
        return {"XDG_RUNTIME_DIR": self.run, "HOME": self.home, "PULSE_CLIENTCONFIG": self.client_conf}

    def client_env(self):
        """For a capture client: the default source is the sink's monitor."""
        e = self.env()
        e["PULSE_SOURCE"] = f"{SINK}.monitor"
        return e

    def _run(self, argv, timeout=30):
        env = dict(os.environ)
        env.update(self.env())
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout * awtest.timeout_mult(),
                              check=False)

    def start(self, timeout=15):
        self.starts += 1
        env = dict(os.environ)
        env.update(self.env())
        log = open(os.path.join(self.dir, f"pulseaudio.{self.starts}.log"), "wb")
        # As root it warns ("not intended to be run as root", no cookie,
        # no D-Bus) and works.
        self.proc = awtest.popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "-L", "module-native-protocol-unix auth-anonymous=1",
             "-L", f"module-null-sink sink_name={SINK} rate=16000 channels=1 format=s16le"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout * awtest.timeout_mult()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                awtest.fail(f"pulseaudio exited with {self.proc.returncode}: see {log.name}")
            r = self._run(["pactl", "list", "short", "sources"], timeout=5)
            if r.returncode == 0 and f"{SINK}.monitor" in r.stdout:
                return self
            time.sleep(0.1)
        awtest.fail(f"pulseaudio did not answer within {timeout} s: see {log.name}")
        return self

    def play(self, raw):
        """Play a raw s16le 16 kHz mono file into the sink; returns when it
        has been played (paplay drains), in real time."""
        r = self._run(["paplay", f"--device={SINK}", "--raw", "--rate=16000", "--channels=1", "--format=s16le", raw],
                      timeout=300)
        if r.returncode != 0:
            awtest.fail(f"paplay {raw} failed ({r.returncode}): {r.stderr[-500:]}")

    def kill(self):
        """The sound server vanishes at once, as an unplugged card does."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_log(job, pattern, count=1, timeout=20):
    """Wait until job's stderr has count lines containing pattern; returns
    True, or False at the timeout or when the job ended."""
    deadline = time.monotonic() + timeout * awtest.timeout_mult()
    while time.monotonic() < deadline:
        if sum(1 for ln in job.stderr_text().splitlines() if pattern in ln) >= count:
            return True
        if job.poll():
            return False
        time.sleep(0.05)
    return False
