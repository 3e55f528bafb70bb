/**
 * The Lab's static server: cross-origin isolation headers on every response, only files under its
 * folders (no traversal, only the four MNIST files under data/), only GET and HEAD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_HEADERS, labFileFor, serveLab } from '../../lab/server.js';

function fetchRaw(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  // node:http rather than fetch: fetch normalises '..' out of paths, which would hide traversal.
  return new Promise((ok, fail) => {
    const u = new URL(url);
    const path = url.slice(u.origin.length);
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('labFileFor maps only files under the app folder and the four MNIST names under data/', () => {
  const root = '/srv/lab';
  const data = '/srv/mnist';
  assert.equal(labFileFor('/', root, data), '/srv/lab/index.html');
  assert.equal(labFileFor('/main.js?v=1', root, data), '/srv/lab/main.js');
  assert.equal(labFileFor('/data/t10k-labels-idx1-ubyte', root, data), '/srv/mnist/t10k-labels-idx1-ubyte');
  assert.equal(labFileFor('/data/../../etc/passwd', root, data), null);
  assert.equal(labFileFor('/data/secret', root, data), null);
  assert.equal(labFileFor('/../etc/passwd', root, data), null);
  assert.equal(labFileFor('/%2e%2e/%2e%2e/etc/passwd', root, data), null);
  assert.equal(labFileFor('/sub/../main.js', root, data), '/srv/lab/main.js');
  assert.equal(labFileFor('/a%00b', root, data), null);
  assert.equal(labFileFor('/%E0%A4%A', root, data), null); // malformed escape
});

test('serveLab sends COOP/COEP on every response, serves files and data, refuses the rest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-lab-server-'));
  try {
    const root = join(dir, 'app');
    const data = join(dir, 'data');
    mkdirSync(root);
    mkdirSync(data);
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>lab</title>');
    writeFileSync(join(root, 'main.js'), 'export {};');
    writeFileSync(join(dir, 'outside.txt'), 'secret');
    writeFileSync(join(data, 'train-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 7]));
    const lab = await serveLab({ root, dataDir: data });
    try {
      const index = await fetchRaw(lab.url);
      assert.equal(index.status, 200);
      assert.equal(index.body, '<!doctype html><title>lab</title>');
      assert.match(String(index.headers['content-type']), /^text\/html/);
      for (const [k, v] of Object.entries(LAB_HEADERS)) assert.equal(index.headers[k.toLowerCase()], v, k);
      const js = await fetchRaw(`${lab.url}main.js`);
      assert.match(String(js.headers['content-type']), /^text\/javascript/);
      const labels = await fetchRaw(`${lab.url}data/train-labels-idx1-ubyte`);
      assert.equal(labels.status, 200);
      assert.equal(labels.headers['content-length'], '9');
      const head = await fetchRaw(`${lab.url}main.js`, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      for (const path of ['/../outside.txt', '/%2e%2e/outside.txt', '/data/../outside.txt', '/data/outside.txt', '/missing.js', '/data/t10k-images-idx3-ubyte']) {
        const r = await fetchRaw(`${lab.url.slice(0, -1)}${path}`);
        assert.equal(r.status, 404, path);
        assert.ok(!r.body.includes('secret'), path);
        assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
      }
      const post = await fetchRaw(lab.url, 'POST');
      assert.equal(post.status, 405);
      assert.equal(post.headers.allow, 'GET, HEAD');
    } finally {
      await lab.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serveLab rejects with the system error when the port is taken', async () => {
  const a = await serveLab({ root: tmpdir() });
  try {
    const port = Number(new URL(a.url).port);
    await assert.rejects(serveLab({ root: tmpdir(), port }), /EADDRINUSE/);
  } finally {
    await a.close();
  }
});
