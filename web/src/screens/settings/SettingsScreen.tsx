export default function SettingsScreen(_props: Record<string, unknown>) {
  return <div className="page"><h1>SettingsScreen</h1></div>;
}
