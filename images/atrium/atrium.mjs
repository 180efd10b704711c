// The entry point of Atrium's image: `operator`, `gateway` or `api` as its argument picks the
// program, each run in its own Deployment (the Helm chart sets the argument).
const programs = {
  operator: "../operator/src/main.ts",
  gateway: "../gateway/src/main.ts",
  api: "../api/src/main.ts",
};
const name = process.argv[2];
if (!(name in programs)) {
  console.error(`usage: atrium ${Object.keys(programs).join("|")}`);
  process.exit(2);
}
// argv stays as it is: a program that starts itself again with V8 flags (process.execve)
// passes the same arguments, so it comes back here as the same program.
await import(new URL(programs[name], import.meta.url).href);
