// A Node worker (official iii-sdk from npm) that calls the C++ worker's math::add through the
// engine, and provides math::add_two_numbers for others to call.
//   node examples/hello/caller.mjs
import { registerWorker } from 'iii-sdk'

const iii = registerWorker(process.env.III_URL ?? 'ws://localhost:49134', { workerName: 'caller-worker' })

iii.registerFunction('math::add_two_numbers', async (payload) => {
  const sum = await iii.trigger({ function_id: 'math::add', payload: { a: payload.a, b: payload.b } })
  return { c: sum.c, success: true }
})

const result = await iii.trigger({ function_id: 'math::add', payload: { a: 2, b: 3 } })
console.log('math::add(2, 3) =', result.c)
console.log('serving math::add_two_numbers; try: ./build/iii trigger math::add_two_numbers a=10 b=20')
