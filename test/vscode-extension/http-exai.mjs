// A stand-in for the exai CLI (set as exai.path) whose daemon speaks Streamable HTTP: until a
// daemon does (another change), this is the only way to see the provider choose HTTP. It
// answers `--version`, `list --json` and `spawn ... --json` with the port the test's /health
// listens on (STANDIN_PORT) and the workspace id whose token the test wrote (STANDIN_ID).
const [cmd] = process.argv.slice(2);
const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');
if (cmd === '--version') process.stdout.write('0.1.0\n');
else if (cmd === 'list') out([]);
else if (cmd === 'spawn') {
  const ws = process.argv[process.argv.indexOf('--workspace') + 1];
  out({ workspace: ws, id: process.env.STANDIN_ID, name: 'exai-standin', port: Number(process.env.STANDIN_PORT), pid: process.pid, status: 'online', reused: true, configFiles: [] });
} else {
  process.stderr.write(`exai: USAGE: ${cmd} is not known to the stand-in\n`);
  process.exit(2);
}
