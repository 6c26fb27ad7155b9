// A supervised process dies with its supervisor. When CAIRN_PARENT_PID is set (by the quickstart,
// or by a test that starts nodes), the process checks that this pid is still its parent and, once
// it is not (the supervisor was SIGKILLed, crashed, or timed out), kills its own process group, so
// no node outlives whatever started it. The pid comes from the environment rather than from
// process.ppid at startup: a parent that died while the child was still booting would otherwise
// leave the child watching init (pid 1) forever. Imported by launch.mjs, so every Cairn program
// has it, and preloaded (node --import) by tests into anything else they start. The timer is
// unref'd, so it never keeps a process alive; a SIGSTOP'd process checks again on SIGCONT.
const parent = Number(process.env.CAIRN_PARENT_PID);
const CHECK_MS = 500;

function check() {
  if (process.ppid === parent) return;
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.kill(process.pid, 'SIGKILL');
  }
}

if (Number.isSafeInteger(parent) && parent > 0) {
  check();
  setInterval(check, CHECK_MS).unref();
}
