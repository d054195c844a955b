// Minimal stand-ins for the UnityEngine types ZpipeTextures.cs uses, so that tests can compile it with
// mono's mcs (no Unity install). Signatures follow Unity's scripting API; bodies are for tests only.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Runtime.Serialization.Json;
using System.Text;
using System.Xml;

namespace UnityEngine
{
    public class Object { public string name; }
    public class Texture : Object { }
    public class Texture2D : Texture { }

    public class Material : Object
    {
        public readonly Dictionary<string, Texture> Textures = new Dictionary<string, Texture>();
        public readonly HashSet<string> Properties = new HashSet<string>();
        public readonly HashSet<string> Keywords = new HashSet<string>();
        public bool HasProperty(string name) { return Properties.Contains(name); }
        public void SetTexture(string name, Texture value) { Textures[name] = value; }
        public readonly Dictionary<string, float> Floats = new Dictionary<string, float>();
        public void EnableKeyword(string keyword) { Keywords.Add(keyword); }
        public void SetFloat(string name, float value) { Floats[name] = value; }
    }

    public class ScriptableObject : Object { }

    public enum TextureWrapMode { Repeat = 0, Clamp = 1, Mirror = 2, MirrorOnce = 3 }

    public static class Application { public static string dataPath = "/project/Assets"; }

    public static class Debug
    {
        public static void Log(object message) { Console.Error.WriteLine(message); }
        public static void LogWarning(object message) { Console.Error.WriteLine("warning: " + message); }
        public static void LogError(object message) { Console.Error.WriteLine("error: " + message); }
    }

    // Unity's JsonUtility maps JSON onto the public fields of [Serializable] classes and ignores the rest
    // (absent fields keep their initial values). The test stand-in does the same: .NET's JSON reader turns
    // the text into an XML document, and reflection fills the fields.
    public static class JsonUtility
    {
        public static T FromJson<T>(string json)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            var doc = new XmlDocument();
            using (var reader = JsonReaderWriterFactory.CreateJsonReader(bytes, XmlDictionaryReaderQuotas.Max))
                doc.Load(reader);
            return (T)Fill(typeof(T), doc.DocumentElement);
        }

        static object Fill(Type type, XmlElement node)
        {
            string kind = node.HasAttribute("type") ? node.GetAttribute("type") : "string";
            if (kind == "null") return null;
            if (type == typeof(string)) return node.InnerText;
            if (type == typeof(int)) return int.Parse(node.InnerText, CultureInfo.InvariantCulture);
            if (type == typeof(float)) return float.Parse(node.InnerText, CultureInfo.InvariantCulture);
            if (type == typeof(bool)) return node.InnerText == "true";
            if (type.IsArray)
            {
                var items = node.ChildNodes.OfType<XmlElement>().ToList();
                var array = Array.CreateInstance(type.GetElementType(), items.Count);
                for (int i = 0; i < items.Count; i++) array.SetValue(Fill(type.GetElementType(), items[i]), i);
                return array;
            }
            object obj = Activator.CreateInstance(type);
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            {
                var child = node.ChildNodes.OfType<XmlElement>().FirstOrDefault(e => e.LocalName == field.Name);
                if (child != null) field.SetValue(obj, Fill(field.FieldType, child));
            }
            return obj;
        }
    }
}

namespace UnityEngine.Rendering
{
    public abstract class RenderPipelineAsset : UnityEngine.ScriptableObject { }

    public static class GraphicsSettings
    {
        public static RenderPipelineAsset currentRenderPipeline;  // null: the built-in render pipeline
    }
}
