/**
 * The entry point of the DataLoader's render workers (worker_threads): renders the batches the main thread
 * asks for from the shared decoded images and sends them back (the float data transferred, not copied).
 * Imports only pure-JavaScript modules: no tensor, no native addon.
 */
import { parentPort, workerData } from 'worker_threads';
import { RenderReply, RenderRequest, WorkerInit, renderSamples } from './pixels';

const { store, steps } = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('data worker: expected to run in a worker thread (worker_threads), not as a main script');

port.on('message', (request: RenderRequest) => {
  let reply: RenderReply;
  try {
    reply = { id: request.id, batch: renderSamples(store, steps, request.indices, request.key) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ id: request.id, error: { name: err.name, message: err.message } } satisfies RenderReply);
    return;
  }
  port.postMessage(reply, [reply.batch.data.buffer as ArrayBuffer, reply.batch.shapes.buffer as ArrayBuffer]);
});
