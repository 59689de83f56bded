#!/usr/bin/node
// Node.js under the default policy: a small server that reads lines from
// stdin (the connection) and answers each, in order, with a child
// process's output.
'use strict';
const { execFile } = require('child_process');
const readline = require('readline');

let queue = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  queue = queue.then(() => new Promise((resolve) => {
    execFile('/usr/bin/tr', ['a-z', 'A-Z'], (err, stdout) => {
      process.stdout.write(err ? `error=${err.code}\n` : `node=${stdout}`);
      resolve();
    }).stdin.end(line + '\n');
  }));
});
rl.on('close', () => queue.then(() => process.stdout.write(`bye pid=${process.pid}\n`)));
