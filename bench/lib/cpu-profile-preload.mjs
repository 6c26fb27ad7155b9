// A V8 CPU profile of a whole process, for programs whose node flags we do not control:
//   NODE_OPTIONS="--import=/abs/path/bench/lib/cpu-profile-preload.mjs" CAIRN_CPU_PROF_DIR=DIR program ...
// (node refuses --cpu-prof in NODE_OPTIONS). Profiling starts when this module is imported and
// the profile is written to DIR/<pid>.cpuprofile when the process exits (process.exit or the end
// of the event loop; not on SIGKILL). A same-thread inspector session answers synchronously,
// which is what makes writing from the 'exit' handler possible.
import { writeFileSync, mkdirSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CAIRN_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.CAIRN_CPU_PROF_INTERVAL_US ?? 1000) });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
