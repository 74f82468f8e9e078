// Run once by compose.yaml's mongo-init (mongosh, authenticated as root on mongo1): make
// the three nodes a replica set, then give each service a user limited to its own database.
// Idempotent: a re-run finds the set initiated and the users present.
const fs = require("fs");
const secret = (name) => fs.readFileSync(`/run/secrets/${name}`, "utf8").trim();

try {
  rs.status();
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
  rs.initiate({
    _id: "rs0",
    members: [
      { _id: 0, host: "mongo1:27017", priority: 2 },
      { _id: 1, host: "mongo2:27017", priority: 1 },
      { _id: 2, host: "mongo3:27017", priority: 1 },
    ],
  });
}
// Users are created on the primary: wait for this node to become it.
for (let i = 0; i < 120 && !db.hello().isWritablePrimary; i++) sleep(500);
if (!db.hello().isWritablePrimary) throw new Error("mongo1 did not become primary");

const admin = db.getSiblingDB("admin");
for (const service of ["contacts", "deals", "tasks", "capture", "webhooks", "imports"]) {
  const user = { pwd: secret(`mongo-${service}`), roles: [{ role: "readWrite", db: `crm_${service}` }] };
  if (admin.getUser(service)) admin.updateUser(service, user);
  else admin.createUser({ user: service, ...user });
}
print("replica set rs0 ready; users contacts, deals, tasks, capture, webhooks, imports");
