// A Node worker (official iii-sdk from npm) that keeps the `todos` stream, group `inbox`, moving:
// every second it adds, renames, ticks off or deletes a todo through stream::set, stream::update
// and stream::delete. Every change reaches the sockets joined to the group (index.html).
//   node examples/streams/writer.mjs
// Environment: III_URL (default ws://127.0.0.1:49134), INTERVAL_MS (default 1000), STEPS (stop
// after that many changes; default: run until Ctrl+C).
import { registerWorker } from 'iii-sdk'

const url = process.env.III_URL ?? 'ws://127.0.0.1:49134'
const intervalMs = Number(process.env.INTERVAL_MS ?? 1000)
const maxSteps = process.env.STEPS ? Number(process.env.STEPS) : Infinity
const stream_name = 'todos'
const group_id = 'inbox'

const titles = [
  'buy milk', 'water the plants', 'call the bank', 'book the train', 'fix the bike light',
  'answer Ana', 'renew the passport', 'clean the oven', 'back up the laptop', 'return the drill',
]

const iii = registerWorker(url, { workerName: 'streams-writer' })
const call = (function_id, payload) => iii.trigger({ function_id, payload })

// Start from what the group already holds (the store may be on disk), so a rerun carries on.
// The sync a browser gets on join holds the items' values only, so each item carries its own id.
const todos = new Map()
for (const item of await call('stream::list', { stream_name, group_id })) {
  if (item && typeof item.id === 'string') todos.set(item.id, item)
}
let next = 1 + Math.max(0, ...[...todos.keys()].map((id) => Number(id.slice(1)) || 0))
console.log(`connected to ${url}; ${todos.size} todos in ${stream_name}/${group_id}`)

const pick = (list) => list[Math.floor(Math.random() * list.length)]

async function step() {
  const roll = Math.random()
  if (todos.size < 3 || (todos.size < 8 && roll < 0.35)) {
    // create: stream::set of a new item id
    const id = `t${next++}`
    const data = { id, title: pick(titles), done: false, updated_at: new Date().toISOString() }
    await call('stream::set', { stream_name, group_id, item_id: id, data })
    todos.set(id, data)
    return `created ${id} "${data.title}"`
  }
  const id = pick([...todos.keys()])
  const todo = todos.get(id)
  if (todo.done || roll > 0.85) {
    // delete: stream::delete answers {old_value}
    await call('stream::delete', { stream_name, group_id, item_id: id })
    todos.delete(id)
    return `deleted ${id}`
  }
  if (roll < 0.6) {
    // update in place: stream::update applies the ops atomically and answers {old_value, new_value}
    const { new_value } = await call('stream::update', {
      stream_name, group_id, item_id: id,
      ops: [
        { type: 'set', path: 'done', value: true },
        { type: 'set', path: 'updated_at', value: new Date().toISOString() },
      ],
    })
    todos.set(id, new_value)
    return `ticked off ${id}`
  }
  // overwrite: stream::set of an existing id is an update event
  const data = { ...todo, title: pick(titles), updated_at: new Date().toISOString() }
  await call('stream::set', { stream_name, group_id, item_id: id, data })
  todos.set(id, data)
  return `renamed ${id} to "${data.title}"`
}

let steps = 0
const timer = setInterval(async () => {
  if (steps >= maxSteps) return
  steps++
  try {
    console.log(await step())
  } catch (error) {
    console.error('change failed:', error?.message ?? error)
  }
  if (steps >= maxSteps) stop()
}, intervalMs)

async function stop() {
  clearInterval(timer)
  await iii.shutdown()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
