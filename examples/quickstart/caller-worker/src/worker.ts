// The Quickstart's caller worker (TypeScript, official iii-sdk from npm).
//   math::add_two_numbers  calls math::add on whichever math worker is connected
//   POST /math/add-two-numbers  (port 3111) answers over HTTP through the same function
// Run: cd examples/quickstart/caller-worker && npm install && npx tsx src/worker.ts
import { Logger } from '@iii-dev/helpers/observability'
import { registerWorker } from 'iii-sdk'

const iii = registerWorker(process.env.III_URL ?? 'ws://localhost:49134', { workerName: 'caller-worker' })

// Lines logged through the SDK's Logger reach the engine (over /otel) with the call's trace id:
// the engine prints them on its console and engine::logs::list returns them.
const logger = new Logger()

type Numbers = { a: number; b: number }
type Sum = { c: number; total: number }

iii.registerFunction('math::add_two_numbers', async (input: Numbers) => {
  const sum = (await iii.trigger({ function_id: 'math::add', payload: { a: input.a, b: input.b } })) as Sum
  logger.info(`add_two_numbers: ${input.a} + ${input.b} = ${sum.c}`, { total: sum.total })
  return { c: sum.c, total: sum.total, success: true }
})

iii.registerFunction('http::add_two_numbers', async (request: { body: Numbers | null }) => {
  const body = request.body
  if (!body || typeof body.a !== 'number' || typeof body.b !== 'number') {
    return { status_code: 400, body: { error: 'send a JSON body like {"a": 1, "b": 2}' } }
  }
  const result = await iii.trigger({ function_id: 'math::add_two_numbers', payload: { a: body.a, b: body.b } })
  return { status_code: 200, body: result }
})

iii.registerTrigger({
  type: 'http',
  function_id: 'http::add_two_numbers',
  config: { api_path: '/math/add-two-numbers', http_method: 'POST' },
})

console.log('caller-worker: serving math::add_two_numbers and POST /math/add-two-numbers')
