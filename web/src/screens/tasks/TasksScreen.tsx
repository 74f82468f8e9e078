export default function TasksScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>TasksScreen</h1></div>;
}
