// nginx from Debian's packages in front of the real server, for the TLS tests: a self-signed
// certificate made here with openssl, the deployment's own site file (deploy/nginx/chat.conf)
// with this run's name, ports and certificate put in, and an nginx process of our own on a free
// loopback port, 127.0.0.1 and ::1 (never the package's service, never port 80 or 443).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ROOT } = require('./helpers');

const SITE = path.join(ROOT, 'deploy', 'nginx', 'chat.conf');
const NGINX = process.env.NGINX || '/usr/sbin/nginx';

/** Listens on `host`:`port` (0: any) and closes again: resolves to the port, or null. */
function tryListen(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, host, () => {
      const got = srv.address().port;
      srv.close(() => resolve(got));
    });
  });
}

/** A TCP port free on both 127.0.0.1 and ::1. */
async function freePort() {
  for (let i = 0; i < 20; i++) {
    const port = await tryListen('127.0.0.1', 0);
    if (port && (await tryListen('::1', port))) return port;
  }
  throw new Error('no port free on both 127.0.0.1 and ::1');
}

/** A self-signed certificate for `name` (and 127.0.0.1) in `dir`: { cert, key } paths. */
function selfSigned(dir, name) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`,
  ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  return { cert, key };
}

/**
 * deploy/nginx/chat.conf with `name`, `port` (TLS, on 127.0.0.1 and ::1), `upstream` (host:port of the
 * server) and the certificate put in place of the deployment's values. Throws when one of those
 * values is no longer in the file, so the file and this test cannot drift apart silently.
 */
function renderSite({ name, port, upstream, cert, key }) {
  let text = fs.readFileSync(SITE, 'utf8');
  const swaps = [
    ['/etc/ssl/certs/chat.example.com.pem', cert],
    ['/etc/ssl/private/chat.example.com.key', key],
    ['listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`],
    ['listen [::]:443 ssl;', `listen [::1]:${port} ssl;`],
    ['server 127.0.0.1:8080;', `server ${upstream};`],
    ['server_name chat.example.com;', `server_name ${name};`],
  ];
  for (const [from, to] of swaps) {
    if (!text.includes(from)) throw new Error(`${SITE} no longer contains \`${from}\``);
    text = text.split(from).join(to);
  }
  return text;
}

/** nginx serving the rendered site over TLS; `start()` returns its port. */
class Nginx {
  constructor({ name, upstream }) {
    this.name = name;
    this.upstream = upstream;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-nginx-'));
    // Workers run as an unprivileged user when nginx starts as root: they write temp files here.
    fs.chmodSync(this.dir, 0o755);
    this.errorLog = path.join(this.dir, 'error.log');
    this.accessLog = path.join(this.dir, 'access.log');
    this.proc = null;
  }

  async start() {
    if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} is missing: run scripts/setup.sh test`);
    const { cert, key } = selfSigned(this.dir, this.name);
    this.port = await freePort();
    const site = path.join(this.dir, 'chat.conf');
    fs.writeFileSync(site, renderSite({ name: this.name, port: this.port, upstream: this.upstream, cert, key }));
    const d = this.dir;
    // Only what running outside /etc/nginx needs; everything about the chat is in the site file.
    fs.writeFileSync(path.join(d, 'nginx.conf'), [
      'worker_processes 1;',
      `pid ${d}/nginx.pid;`,
      `error_log ${this.errorLog} info;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${this.accessLog};`,
      `  client_body_temp_path ${d}/client_body;`,
      `  proxy_temp_path ${d}/proxy;`,
      `  fastcgi_temp_path ${d}/fastcgi;`,
      `  uwsgi_temp_path ${d}/uwsgi;`,
      `  scgi_temp_path ${d}/scgi;`,
      `  include ${site};`,
      '}',
      '',
    ].join('\n'));
    const args = ['-p', d, '-c', path.join(d, 'nginx.conf'), '-e', this.errorLog, '-g', 'daemon off;'];
    const out = fs.openSync(path.join(d, 'stderr.log'), 'a');
    this.proc = spawn(NGINX, args, { stdio: ['ignore', out, out] });
    const exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => resolve(code ?? sig)));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await Promise.race([connects(this.port), exited.then((why) => `exit ${why}`)]);
      if (up === true) return this.port;
      if (typeof up === 'string' || Date.now() > deadline) {
        throw new Error(`nginx did not start (${up}): ${this.log()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** nginx's error log and stderr, for failure messages. */
  log() {
    return ['stderr.log', 'error.log']
      .map((f) => path.join(this.dir, f))
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
  }

  /** The access log's lines (written as each request ends). */
  accesses() {
    return fs.existsSync(this.accessLog) ? fs.readFileSync(this.accessLog, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** Stops nginx quickly (SIGTERM), SIGKILL after 5 s; waits for it to end. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    this.proc = null;
  }
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted. */
function connects(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

const running = new Set();
process.on('exit', () => running.forEach((n) => n.proc && n.proc.kill('SIGKILL')));
function newNginx(opts) {
  const n = new Nginx(opts);
  running.add(n);
  return n;
}

module.exports = { newNginx, freePort, selfSigned, renderSite };
