import { startWorkerProcessMetrics } from '../../src/observe/process-metrics.js';

// A cluster worker for test/observe/process-metrics.test.ts: its process metrics, answered to the primary.
startWorkerProcessMetrics(Number(process.env.METRICS_WORKER_INDEX));
process.send!({ ready: true });
// Stay until the primary goes (the IPC channel closes) or kills it.
process.on('disconnect', () => process.exit(0));
