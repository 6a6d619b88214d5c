import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

// USER_HZ: Linux reports utime/stime in 1/100 s on every architecture Node runs on.
const TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * A process and all its descendants (nginx master + workers; a daemon and any children).
 *
 * @param root the process started by the runner
 * @returns pids, root first; empty when the root is gone
 * @example processTree(nginxMasterPid) // [master, worker]
 */
export function processTree(root: number): number[] {
  if (!statFields(root)) return [];
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (!fields) continue;
    const parent = Number(fields[1]);
    const siblings = parents.get(parent) ?? [];
    siblings.push(Number(name));
    parents.set(parent, siblings);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]) ?? []));
  return tree;
}

/**
 * CPU time (user + system) the processes have used so far, from /proc/<pid>/stat.
 *
 * @param pids e.g. from {@link processTree}
 * @returns microseconds, at 10 ms resolution
 * @example const before = cpuMicros(pids);
 */
export function cpuMicros(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of stat(5); index 11 and 12 after the name.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1e6) / TICKS_PER_SECOND;
}

/**
 * Times the processes' main threads went to sleep waiting (voluntary context switches,
 * from /proc/<pid>/task/<pid>/status): for an event loop (Node's, nginx's), one per
 * turn that found nothing to do and waited in epoll, so per delivery it counts the
 * wake-ups a delivery costs. Helper threads are left out (Node's GC and I/O threads).
 *
 * @param pids e.g. from {@link processTree}
 * @returns the count so far
 * @example const before = mainThreadWaits(pids);
 */
export function mainThreadWaits(pids: number[]): number {
  let waits = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'latin1');
      waits += Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // Gone since the list was made.
    }
  }
  return waits;
}

/**
 * Proportional set size of the processes: shared pages (nginx's shared memory zone,
 * libraries) are split among the processes that map them, so a sum over a process
 * tree counts each page once.
 *
 * @param pids e.g. from {@link processTree}
 * @returns kilobytes
 * @example pssKb(processTree(pid))
 */
export function pssKb(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
      total += Number(/\nPss:\s+(\d+) kB/.exec(rollup)?.[1] ?? 0);
    } catch {
      // the process exited between listing and reading
    }
  }
  return total;
}

/**
 * Sockets a process holds (connections, listening sockets, IPC), from /proc/<pid>/fd.
 *
 * @param pid the process
 * @returns how many of its file descriptors are sockets; 0 when it is gone
 * @example socketCount(workerPid)
 */
export function socketCount(pid: number): number {
  let count = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count++;
      } catch {
        // closed between listing and reading
      }
    }
  } catch {
    // the process exited
  }
  return count;
}

/** The CPU model from /proc/cpuinfo and the number of cores, for the report. */
export function machine(): { cpu: string; cores: number; kernel: string } {
  const info = readFileSync('/proc/cpuinfo', 'latin1');
  const cpu = /model name\s*:\s*(.*)/.exec(info)?.[1]?.trim() ?? 'unknown CPU';
  const cores = info.split('\n').filter((line) => line.startsWith('processor')).length;
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim();
  return { cpu, cores, kernel };
}
