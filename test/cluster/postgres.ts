// A throwaway PostgreSQL server for tests: Debian's binaries (`apt-get install postgresql`,
// .ci/run does it), a fresh data folder under a temporary folder, a free loopback port, trust
// authentication (it listens on 127.0.0.1 only) and durability switched off for speed. Like
// the control plane it runs through leash.sh, so it dies with the process that started it.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { logTail } from "./log-tail.ts";
import { freePorts } from "./ports.ts";
import { until } from "./until.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const run = promisify(execFile);

export type Postgres = {
  /** postgresql://postgres@127.0.0.1:PORT/postgres (the maintenance database). */
  url: string;
  port: number;
  /** The temporary folder with the data folder and postgres.log. */
  dir: string;
  /** Fast shutdown (SIGINT: open connections are cut), waits for the exit, deletes the folder. */
  stop(): Promise<void>;
};

/** The newest PostgreSQL's bin folder under /usr/lib/postgresql (or ATRIUM_PG_BIN_DIR). */
export function postgresBinDir(): string {
  if (process.env.ATRIUM_PG_BIN_DIR) return process.env.ATRIUM_PG_BIN_DIR;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(`no PostgreSQL under ${root}: apt-get install -y postgresql (.ci/run installs it)`);
  return join(root, versions[0] as string, "bin");
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), "atrium-pg-"));
  const data = join(dir, "data");
  // PostgreSQL refuses to run as root: as root, run it as the `postgres` system user (setpriv
  // execs in place, so leash.sh's signals reach the postmaster itself) and give it the folder.
  const asRoot = userInfo().uid === 0;
  let user: string[] = [];
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]).catch(() => {
      throw new Error("running as root needs the `postgres` system user (apt-get install -y postgresql)");
    });
    const uid = Number(stdout.trim());
    const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
    chownSync(dir, uid, gid);
    user = ["setpriv", "--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--"];
  }
  const cmd = (program: string, ...args: string[]): [string, string[]] =>
    asRoot ? [user[0] as string, [...user.slice(1), join(bin, program), ...args]] : [join(bin, program), args];

  try {
    await run(
      ...cmd(
        "initdb",
        "-D",
        data,
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
      ),
      { cwd: dir },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(error as { stderr?: string }).stderr ?? error}`);
  }

  const [port] = (await freePorts(1)) as [number];
  const out = openSync(join(dir, "postgres.log"), "a");
  const [program, args] = cmd(
    "postgres",
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    dir, // the Unix socket goes here, not to /var/run/postgresql
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "shared_buffers=16MB",
    "-c",
    "max_connections=200",
  );
  // stdin is a pipe we never write to: when this process ends, leash.sh sees EOF.
  const child: ChildProcess = spawn("bash", [join(HERE, "leash.sh"), program, ...args], {
    stdio: ["pipe", out, out],
    cwd: dir,
  });
  closeSync(out);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      resolve();
    }),
  );

  let stopped = false;
  const stop = async () => {
    if (stopped) return exited;
    stopped = true;
    if (exitCode === undefined) {
      // SIGINT is PostgreSQL's fast shutdown; leash.sh's SIGTERM would wait for clients to leave.
      const pid = postmasterPid(data);
      if (pid) {
        try {
          process.kill(pid, "SIGINT");
        } catch {
          child.kill("SIGTERM");
        }
      } else child.kill("SIGTERM");
    }
    await exited;
    if (process.env.ATRIUM_KEEP_POSTGRES !== "1") rmSync(dir, { recursive: true, force: true });
  };

  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  try {
    await until(
      `PostgreSQL on port ${port}`,
      async () => {
        if (exitCode !== undefined)
          throw new Error(`postgres exited (${exitCode}):\n${logTail(join(dir, "postgres.log"), 20)}`);
        const client = new pg.Client({ connectionString: url });
        try {
          await client.connect();
          await client.query("select 1");
          return true;
        } finally {
          await client.end().catch(() => {});
        }
      },
      30_000,
      50,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, dir, stop };
}

/** The postmaster's pid from its pid file, if it wrote one. */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates the database `name` (lowercase letters, digits, underscores) in the server behind
 * `url` and returns the URL that reaches it, so each test file can have a database of its own.
 */
export async function createDatabase(url: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unusable database name ${JSON.stringify(name)}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const target = new URL(url);
  target.pathname = `/${name}`;
  return target.toString();
}
