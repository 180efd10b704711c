// Demo Notes: Atrium's own sample app. What people write is appended to a file on the app's
// volume and shown back, so "the app stopped and woke up and nothing was lost" can be seen.
// Plain Node, no dependencies: the image is a base, the node binary and this file.
//   GET  /         the notes and a form (relative URLs: it works under the gateway's /apps/<org>/<app>/)
//   POST /         adds a note (form field `note`, or a text body), then shows the page again
//   GET  /notes    the notes as JSON
//   GET  /healthz  readiness: 200 while the notes file can be written, else 503
import { accessSync, appendFileSync, constants, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const port = Number(process.env.PORT ?? 8080);
const dir = process.env.NOTES_DIR ?? "/data";
const title = process.env.NOTES_TITLE ?? "Demo Notes";
const file = join(dir, "notes.jsonl");
const MAX_NOTE = 2000;

// A setting that cannot work stops the app at once (the platform shows it crashing) rather
// than serving something half-configured.
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(JSON.stringify({ level: "error", msg: "PORT must be a TCP port number", port: process.env.PORT }));
  process.exit(1);
}
mkdirSync(dir, { recursive: true });

const readNotes = () => {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
};

const writable = () => {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

const escapeHtml = (s) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const page = (notes) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>${escapeHtml(title)}</h1>
<p>Notes are kept on this app's volume: stop the app, open it again, and they are still here.</p>
<form method="post" action="./"><label>Note <input name="note" maxlength="${MAX_NOTE}" required></label>
<button>Add</button></form>
<ul>${notes.map((n) => `<li><time>${escapeHtml(n.at)}</time> ${escapeHtml(n.text)}</li>`).join("")}</ul>
</body></html>`;

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on("data", (d) => {
      size += d.length;
      if (size > MAX_NOTE * 4) reject(new Error("too large"));
      else parts.push(d);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? "/", "http://app").pathname;
  try {
    if (path === "/healthz") {
      const ok = writable();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : `cannot write ${dir}\n`);
    } else if (path === "/notes" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(readNotes()));
    } else if (path === "/" && req.method === "POST") {
      const body = await readBody(req);
      const form = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
      const text = (form ? (new URLSearchParams(body).get("note") ?? "") : body).trim().slice(0, MAX_NOTE);
      if (!text) {
        res.writeHead(400, { "content-type": "text/plain" }).end("a note needs some text\n");
        return;
      }
      // flush: the note is on the volume before the answer, so a stop right after loses nothing.
      appendFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), text })}\n`, { flush: true });
      res.writeHead(303, { location: "./" }).end();
    } else if (path === "/" && req.method === "GET") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(readNotes()));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  } catch (error) {
    console.error(JSON.stringify({ level: "error", msg: "request failed", path, error: String(error) }));
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end("internal error\n");
  }
});

server.listen(port, () => console.log(JSON.stringify({ level: "info", msg: "listening", port, dir })));
// Kubernetes stops the app with SIGTERM; as PID 1 Node would otherwise ignore it until SIGKILL.
for (const signal of ["SIGTERM", "SIGINT"])
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
