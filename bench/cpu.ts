// CPU time a process and its descendants used, from /proc (Linux). What a proxy costs per
// request is far less sensitive to the rest of the machine's load than requests per second are:
// a proxy that gets fewer cores serves fewer requests, but each costs about the same CPU (cache
// and scheduler effects of the other load remain). Ticks are 10 ms: a 5 s sample of a busy proxy
// holds hundreds of them.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on Linux

export type CpuTime = { user: number; system: number };

/** User and system seconds so far of pid and every process below it (nginx's workers, say). */
export function cpuTime(pid: number): CpuTime {
  const total = { user: 0, system: 0 };
  const visit = (p: number) => {
    const stat = readFileSync(`/proc/${p}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    total.user += Number(fields[11]) / TICKS_PER_SECOND;
    total.system += Number(fields[12]) / TICKS_PER_SECOND;
    for (const task of readdirSync(`/proc/${p}/task`))
      for (const child of readFileSync(`/proc/${p}/task/${task}/children`, "utf8").split(" "))
        if (child.trim()) visit(Number(child));
  };
  visit(pid);
  return total;
}

/** Microseconds of CPU per request between two readings; total is user + system. */
export const microsPerRequest = (before: CpuTime, after: CpuTime, requests: number) => {
  const user = ((after.user - before.user) * 1e6) / requests;
  const system = ((after.system - before.system) * 1e6) / requests;
  return { user, system, total: user + system };
};
