// A throwaway PostgreSQL server for tests: initdb + postgres from the
// machine's PostgreSQL binaries (Debian's `postgresql` package), in a temporary
// directory, on a free loopback port, as an unprivileged user when the tests
// run as root (PostgreSQL refuses to run as root). One server per test file,
// one database per test.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { freePort } from "./free-port.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

const POSTGRESQL_ROOT = "/usr/lib/postgresql";

export interface PostgresServer {
  readonly port: number;
  /** The postmaster's pid while it runs. */
  readonly pid: number | undefined;
  /** postgres://postgres@127.0.0.1:port/database (default "postgres"). */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown; the data stays for restart(). */
  stop(): Promise<void>;
  /** Starts again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory. */
function binaries(): string {
  const versions = existsSync(POSTGRESQL_ROOT)
    ? readdirSync(POSTGRESQL_ROOT)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(POSTGRESQL_ROOT, v, "bin", "postgres")) && existsSync(join(POSTGRESQL_ROOT, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) {
    throw new Error(`PostgreSQL server binaries (initdb, postgres) not found under ${POSTGRESQL_ROOT}/<version>/bin: install them (apt-get install postgresql)`);
  }
  return join(POSTGRESQL_ROOT, versions[0], "bin");
}

/** As root, the command runs as nobody; otherwise as the current user. */
function unprivileged(): { prefix: string[]; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "nobody"], { encoding: "utf8" }).trim());
  return { prefix: ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"], uid, gid };
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = binaries();
  const user = unprivileged();
  const dir = mkdtempSync(join(tmpdir(), "strongroom-pg-"));
  const data = join(dir, "data");
  const sockets = join(dir, "sockets");
  mkdirSync(sockets);
  if (user !== undefined) for (const path of [dir, sockets]) chownSync(path, user.uid, user.gid);
  const command = (program: string, args: string[]): [string, string[]] =>
    user === undefined ? [join(bin, program), args] : [user.prefix[0]!, [...user.prefix.slice(1), join(bin, program), ...args]];

  const [initdb, initdbArgs] = command("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  execFileSync(initdb, initdbArgs, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });

  const port = await freePort();
  const url = (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`;
  // Durability is pointless for a throwaway server; these make it much faster.
  const [postgres, postgresArgs] = command("postgres", [
    "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", sockets,
    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
  ]);

  let child: ChildProcess | undefined;
  let log = "";
  const killOnExit = () => child?.kill("SIGKILL");
  process.once("exit", killOnExit);

  async function start(): Promise<void> {
    log = "";
    const started = spawn(postgres, postgresArgs, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    child = started;
    started.stderr!.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`postgres exited with ${started.exitCode}:\n${log}`);
      const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 1_000 });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.query("SELECT 1");
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 20 s (${String(error)}):\n${log}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        await client.end().catch(() => {});
      }
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGINT"); // fast shutdown: clients are disconnected, the data is kept
    await exited;
  }

  await start();
  return {
    port,
    get pid() {
      return child?.exitCode === null ? child.pid : undefined;
    },
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    restart: start,
    async dispose() {
      await stop();
      process.off("exit", killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
