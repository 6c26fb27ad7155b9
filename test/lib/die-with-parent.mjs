// Preloaded (node --import) into every process a test starts: if the test process dies without
// stopping it (SIGKILL after a tap timeout, a crash), the child notices that its parent is gone
// and kills its own process group, so no node outlives the test that started it. The parent's
// pid comes from the environment, not from process.ppid at startup: a parent that dies while
// the child is still booting would otherwise leave the child watching init (pid 1) forever.
// The timer is unref'd: it never keeps a process alive; a SIGSTOP'd process checks on SIGCONT.
const parent = Number(process.env.CAIRN_TEST_PARENT_PID);
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
