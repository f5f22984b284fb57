// The crash experiment shared by the CI crash test and `npm run soak`: the built server with
// --fsync always under concurrent add/remove load over HTTP, killed with SIGKILL at random moments
// and restarted on the same data directory. A model tracks every number: acknowledged adds must
// be present, acknowledged removes absent, and nothing appears that was never requested. Changes
// whose answer was lost in the kill are resolved from the restarted server, then held to that.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mulberry32 } from './random.js';
import { freePort, firstKeyOf, kill9, kill9Group, pdnc, startServer, stopGracefully, waitUntilServing, killAll, type ServerProcess } from './server-process.js';

type NumberState = 'present' | 'absent' | 'adding' | 'removing';

export interface CrashOptions {
  readonly cycles: number;
  readonly concurrency: number;
  readonly loadMsMin: number;
  readonly loadMsMax: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
  /**
   * Kill the server's process group and start the next server in the same instant, without waiting
   * for the old one to die (a supervisor's `Restart=always`); every start must succeed.
   */
  readonly restartAtOnce?: boolean;
}

export interface CrashFigures {
  cycles: number;
  acknowledgedAdds: number;
  acknowledgedRemoves: number;
  unknownResolved: number;
  tornTailsCut: number;
  recoveryMs: number[];
  replayedRecords: number[];
  failures: string[];
}

class Model {
  readonly state = new Map<string, NumberState>();
  private next = 0;

  fresh(count: number): string[] {
    const phones: string[] = [];
    for (let i = 0; i < count; i++, this.next++) {
      phones.push(String(2_002_000_000 + Math.floor(this.next / 7_000_000) * 10_000_000 + (this.next % 7_000_000)));
    }
    return phones;
  }

  present(): string[] {
    return [...this.state].filter(([, s]) => s === 'present').map(([phone]) => phone);
  }
}

interface Load {
  stopped: boolean;
  /** Called after each acknowledged change. */
  readonly acknowledged: () => void;
}

async function loadUntilStopped(server: ServerProcess, key: string, model: Model, options: CrashOptions, rand: () => number, figures: CrashFigures, load: Load) {
  const worker = async (): Promise<void> => {
    while (!load.stopped) {
      const present = model.present();
      const removing = present.length > 10 && rand() < 0.35;
      const picked = removing ? Array.from({ length: 1 + Math.floor(rand() * 3) }, () => present[Math.floor(rand() * present.length)]!) : model.fresh(1 + Math.floor(rand() * 3));
      const phones = [...new Set(picked)];
      for (const phone of phones) model.state.set(phone, removing ? 'removing' : 'adding');
      let ok = false;
      try {
        const answer = await pdnc(server.port, key, { actionType: removing ? 'remove' : 'add', phoneList: phones.join(',') });
        ok = answer.status === 200;
        if (!ok && answer.status !== 503) figures.failures.push(`unexpected HTTP ${answer.status}: ${answer.body}`);
      } catch {
        ok = false;
      }
      if (!ok) continue;
      for (const phone of phones) model.state.set(phone, removing ? 'absent' : 'present');
      if (removing) figures.acknowledgedRemoves += phones.length;
      else figures.acknowledgedAdds += phones.length;
      load.acknowledged();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
}

/** After a restart: resolve in-flight changes, then check every number and the total count. */
async function check(server: ServerProcess, key: string, model: Model, figures: CrashFigures, cycle: number): Promise<void> {
  const phones = [...model.state.keys()];
  const onList = new Map<string, boolean>();
  for (let i = 0; i < phones.length; i += 50_000) {
    const answer = await pdnc(server.port, key, { actionType: 'status', phoneList: phones.slice(i, i + 50_000).join(',') });
    if (answer.status !== 200) throw new Error(`status failed with ${answer.status}: ${answer.body}`);
    for (const entry of JSON.parse(answer.body) as { phone: string; onList: boolean }[]) onList.set(entry.phone, entry.onList);
  }
  for (const [phone, state] of model.state) {
    const actual = onList.get(phone) === true;
    if (state === 'adding' || state === 'removing') {
      model.state.set(phone, actual ? 'present' : 'absent');
      figures.unknownResolved++;
    } else if ((state === 'present') !== actual) {
      figures.failures.push(`cycle ${cycle}: an acknowledged ${state === 'present' ? 'add' : 'remove'} was lost`);
    }
  }
  const count = Number((await pdnc(server.port, key, { actionType: 'count' })).body);
  const expected = model.present().length;
  if (count !== expected) figures.failures.push(`cycle ${cycle}: count ${count}, expected ${expected} (numbers never requested?)`);
}

function readRecoveryLine(stderr: string, figures: CrashFigures): void {
  const match = /recovered .* in ([\d.]+) ms: .*?(\d+) log records replayed/.exec(stderr);
  if (match !== null) {
    figures.recoveryMs.push(Number(match[1]));
    figures.replayedRecords.push(Number(match[2]));
  }
  if (stderr.includes('torn log tail cut')) figures.tornTailsCut++;
}

/** Small snapshot trigger: snapshots, rotations and segment removal happen in every cycle. */
const SERVE_ARGS = ['--snapshot-log-bytes', '65536'];

export async function runCrashCycles(options: CrashOptions): Promise<CrashFigures> {
  const dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-crash-'));
  const rand = mulberry32(options.seed ?? Date.now());
  const model = new Model();
  const figures: CrashFigures = { cycles: 0, acknowledgedAdds: 0, acknowledgedRemoves: 0, unknownResolved: 0, tornTailsCut: 0, recoveryMs: [], replayedRecords: [], failures: [] };
  const port = await freePort();
  let key: string | null = null;
  try {
    let next: ServerProcess | null = null;
    for (let cycle = 1; cycle <= options.cycles && figures.failures.length === 0; cycle++) {
      const server = next ?? startServer(dataDir, port, SERVE_ARGS, options.restartAtOnce);
      next = null;
      await waitUntilServing(server);
      key ??= await firstKeyOf(server);
      readRecoveryLine(server.stderr, figures);
      if (cycle > 1) await check(server, key, model, figures, cycle);
      const ms = options.loadMsMin + rand() * (options.loadMsMax - options.loadMsMin);
      let acknowledged!: () => void;
      const firstAcknowledged = new Promise<void>((resolve) => (acknowledged = resolve));
      const load: Load = { stopped: false, acknowledged };
      const running = loadUntilStopped(server, key, model, options, rand, figures, load);
      // The random moment is counted from the cycle's first acknowledged change: every kill lands
      // on a server under load, however slow this machine is.
      await firstAcknowledged;
      await new Promise((resolve) => setTimeout(resolve, ms));
      load.stopped = true;
      if (options.restartAtOnce === true) {
        kill9Group(server);
        if (cycle < options.cycles) next = startServer(dataDir, port, SERVE_ARGS, true);
        await server.exited;
      } else await kill9(server);
      await running;
      figures.cycles = cycle;
      options.log?.(`cycle ${cycle}: ${figures.acknowledgedAdds} adds, ${figures.acknowledgedRemoves} removes acknowledged so far`);
    }
    const last = startServer(dataDir, port);
    await waitUntilServing(last);
    readRecoveryLine(last.stderr, figures);
    await check(last, key!, model, figures, figures.cycles + 1);
    const code = await stopGracefully(last);
    if (code !== 0) figures.failures.push(`graceful stop exited with ${code}:\n${last.stderr}`);
    return figures;
  } finally {
    await killAll();
    await fs.promises.rm(dataDir, { recursive: true, force: true });
  }
}
