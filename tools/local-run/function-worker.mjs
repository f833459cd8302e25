// One "execution environment" of a bundled Lambda handler for the local run: a worker thread with
// its own process.env (the function's variables), importing the bundle as Lambda's Node.js
// runtime does, answering one invocation at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const { entryFile, handlerName, functionName, memoryMb, region } = workerData;

// The handler's stdout goes to the host on the port its answers take, so every line an invocation
// writes reaches the host before that invocation's answer (worker stdio has a port of its own, with
// no order against this one). The local run reads the processor's record log in that order, across
// environments, to check the order per partition key.
process.stdout.write = (chunk, encoding, callback) => {
  const done = typeof encoding === 'function' ? encoding : callback;
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  parentPort.postMessage({ type: 'stdout', text });
  if (typeof done === 'function') {
    process.nextTick(done);
  }
  return true;
};

let handler;
try {
  const module = await import(pathToFileURL(entryFile).href);
  handler = module[handlerName];
  if (typeof handler !== 'function') {
    throw new Error(`${entryFile} exports no function ${handlerName}`);
  }
  parentPort.postMessage({ type: 'ready' });
} catch (error) {
  parentPort.postMessage({ type: 'init-error', error: { name: error?.name ?? 'Error', message: String(error?.message ?? error) } });
}

let sequence = 0;
parentPort.on('message', async ({ id, event, deadline }) => {
  sequence += 1;
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: `local-${process.pid}-${id}-${sequence}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
  try {
    const result = await handler(event, context);
    parentPort.postMessage({ type: 'result', id, ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
  } catch (error) {
    // Own properties too (a ProducerWriteError carries its result), as far as they are JSON.
    let details;
    try {
      details = error && typeof error === 'object' ? JSON.parse(JSON.stringify({ ...error })) : undefined;
    } catch {
      details = undefined;
    }
    parentPort.postMessage({
      type: 'result',
      id,
      ok: false,
      error: { name: error?.name ?? 'Error', message: String(error?.message ?? error), details },
    });
  }
});
