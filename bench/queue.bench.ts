/**
 * What one Redis gives a sweep: enqueue, dequeue + complete and status reads per second through
 * the same BullMQ calls `ec2t sweep --queue` and `ec2t worker` make, against a private local
 * redis-server, with a raw PING round trip measured in the same process as the baseline.
 *
 *   node dist/bench/queue.bench.js [--jobs N]
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { seconds } from './util.js';
import { startRedis } from '../test/helpers/redis.js';
import { QUEUE_NAME } from '../sweep/queue.js';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--jobs');
  const jobs = i > 0 ? Number(process.argv[i + 1]) : 2000;
  const redis = await startRedis();
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  try {
    const ping = new Redis(connection);
    const pingSeconds = await seconds('ping', async () => {
      await ping.ping();
    }, { timeMs: 1000, iterations: 200 });
    ping.disconnect();
    const queue = new Queue(QUEUE_NAME, { connection });
    // Enqueue one job at a time, as `ec2t sweep --queue` does (it checks each cell's old job first).
    let t0 = performance.now();
    for (let k = 0; k < jobs; k++) {
      const id = `bench-cell-${k}`;
      await queue.getJob(id);
      await queue.add('cell', { sweepId: 'bench', sweep: 'bench', cell: `c${k}` }, { jobId: id, attempts: 3, removeOnComplete: false, removeOnFail: false });
    }
    const enqueueSeconds = (performance.now() - t0) / 1000;
    // Status: a job and its state per cell, as `ec2t sweep` polls while it waits and `--status` prints.
    t0 = performance.now();
    for (let k = 0; k < jobs; k++) await (await queue.getJob(`bench-cell-${k}`))?.getState();
    const statusSeconds = (performance.now() - t0) / 1000;
    // Dequeue + complete with an empty processor: the queue's own cost per cell.
    t0 = performance.now();
    let done = 0;
    const worker = new Worker(QUEUE_NAME, async () => {
      done++;
    }, { connection, concurrency: 1 });
    while (done < jobs) await new Promise((r) => setTimeout(r, 20));
    const workSeconds = (performance.now() - t0) / 1000;
    await worker.close();
    await queue.close();
    const rate = (s: number): string => (jobs / s).toFixed(0);
    console.log(`| jobs | enqueue /s | dequeue+complete /s (1 worker) | status reads /s | PING round trips /s (baseline) |`);
    console.log(`|---:|---:|---:|---:|---:|`);
    console.log(`| ${jobs} | ${rate(enqueueSeconds)} | ${rate(workSeconds)} | ${rate(statusSeconds)} | ${(1 / pingSeconds).toFixed(0)} |`);
    console.log(`ratios to a PING: enqueue ${(enqueueSeconds / jobs / pingSeconds).toFixed(1)}×, dequeue+complete ${(workSeconds / jobs / pingSeconds).toFixed(1)}×, status ${(statusSeconds / jobs / pingSeconds).toFixed(1)}× the time`);
  } finally {
    await redis.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
